"""Shared benchmark plumbing: machine description, result files."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from anpr.config import PipelineSettings
from anpr.inference.backend import OnnxRuntimeBackend, PlateBackend
from anpr.inference.triton_backend import TritonBackend
from anpr.inference.triton_process import LocalTriton

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    """What the numbers were measured on; every result file carries it."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "gpu": None,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, payload: dict, directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path


@asynccontextmanager
async def running_backend(
    name: str, settings: PipelineSettings, ready_timeout_s: float = 120.0
) -> AsyncIterator[PlateBackend]:
    """A ready backend: ONNX Runtime in-process, or Triton started locally on the settings' repository."""
    triton = None
    if name == "onnxruntime":
        backend: PlateBackend = OnnxRuntimeBackend(settings)
    else:
        triton = LocalTriton(settings.model_repository)
        await triton.start()
        backend = TritonBackend(triton.url, settings, timeout_s=60)
    try:
        await backend.start()
        deadline = time.monotonic() + ready_timeout_s
        while not await backend.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not become ready")
            await asyncio.sleep(0.2)
        yield backend
    finally:
        await backend.close()
        if triton:
            await triton.stop()


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (benchmarks run without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: Path) -> None:
    """Writes a benchmark plot as PNG and releases it."""
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot().close(figure)
