"""Choosing, starting and stopping a backend: the one place that knows every kind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from anpr.contract import MODELS, PIPELINE
from anpr.inference.backend import NullBackend, PlateBackend
from anpr.inference.onnxruntime_models import OnnxRuntimeBackend
from anpr.inference.pipeline import PipelineSettings
from anpr.inference.triton_backend import TritonBackend
from anpr.inference.triton_process import LocalTriton

BackendKind = Literal["triton", "onnxruntime", "null"]


def served_models(pipeline: PipelineSettings) -> tuple[str, ...]:
    """The models a local Triton loads: the two, and the Triton-side pipeline when it is used (DALI
    costs its load time and memory only then)."""
    models = tuple(spec.name for spec in MODELS)
    return (*models, PIPELINE.name) if pipeline.preprocessing == "triton" else models


async def open_backend(
    kind: BackendKind,
    pipeline: PipelineSettings,
    triton_url: str | None = None,
    triton_exit_timeout_s: int = 5,
    triton_timeout_s: float = 10.0,
    triton_client_arguments: dict[str, Any] | None = None,
    null_batch_ms: float = 0.0,
) -> tuple[PlateBackend, LocalTriton | None]:
    """Creates and starts a backend; for `triton` without a URL, starts and supervises a local Triton
    on the pipeline's model repository first. Readiness is the caller's to wait for."""
    local: LocalTriton | None = None
    backend: PlateBackend
    if kind == "onnxruntime":
        backend = OnnxRuntimeBackend(pipeline)
    elif kind == "null":
        backend = NullBackend(null_batch_ms / 1000.0)
    else:
        if triton_url is None:
            local = LocalTriton(pipeline.model_repository, triton_exit_timeout_s, models=served_models(pipeline))
            await local.start()
            triton_url = local.url
        backend = TritonBackend(
            triton_url,
            pipeline,
            timeout_s=triton_timeout_s,
            client_arguments=None if local else triton_client_arguments,  # a local Triton is on loopback
        )
    try:
        await backend.start()
    except BaseException:
        if local:
            await local.stop()
        raise
    return backend, local


async def close_backend(backend: PlateBackend, local: LocalTriton | None) -> None:
    """Closes the backend, then stops the local Triton it used, if any."""
    try:
        await backend.close()
    finally:
        if local:
            await local.stop()


async def wait_until_ready(backend: PlateBackend, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await backend.ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {backend.name} backend's models were not ready within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def running_backend(
    kind: BackendKind, pipeline: PipelineSettings, ready_timeout_s: float = 120.0
) -> AsyncIterator[PlateBackend]:
    """A ready backend for tools (evaluation, benchmarks), closed on exit."""
    backend, local = await open_backend(kind, pipeline, triton_timeout_s=60.0)
    try:
        await wait_until_ready(backend, ready_timeout_s)
        yield backend
    finally:
        await close_backend(backend, local)
