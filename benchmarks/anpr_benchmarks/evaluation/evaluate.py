"""`anpr models eval DIR`: the whole pipeline over a labelled image set, scored, errors kept."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anpr.domain import InvalidFrame
from anpr.inference.backend import FramePipeline, PlateBackend
from anpr.inference.pipeline import PipelineSettings, run_batch, run_encoded_batch
from anpr.ingest.decode import decode_encoded
from anpr_benchmarks.evaluation.metrics import Tally
from anpr_benchmarks.evaluation.unlabelled import unlabelled_plates
from anpr_synth.labelled_set import LabelError, LabelledImage, iter_labelled_set
from anpr_synth.real_sets import split_of

log = logging.getLogger(__name__)


@dataclass
class EvaluationReport:
    metrics: dict[str, float | int | None]
    skipped: list[str] = field(default_factory=list)  # one message per file that was not scored
    tally: Tally = field(default_factory=Tally)


def _load_pixels(path: Path) -> np.ndarray | None:
    """The image as the server would decode it, or None if it does not decode."""
    try:
        return decode_encoded(path.read_bytes())
    except InvalidFrame:
        return None


def _load_bytes(path: Path) -> bytes:
    """The file as the front end forwards it with `preprocessing = "triton"` (Triton decodes it)."""
    return path.read_bytes()


async def evaluate(
    directory: Path,
    backend: PlateBackend,
    settings: PipelineSettings,
    batch_size: int = 8,
    progress: bool = True,
    split: str | None = None,
    min_plate_width: float = 0.0,
) -> EvaluationReport:
    """Scores the pipeline on every readable, labelled image of `directory` (only those of the real
    sets' `split` part if given); skips the rest with a reason. With `settings.preprocessing = "triton"`
    the encoded files go to the backend's Triton-side pipeline, as the server sends them."""
    if not directory.is_dir():
        raise FileNotFoundError(f"not a folder: {directory}")
    entries = list(iter_labelled_set(directory))
    if split is not None:
        entries = [e for e in entries if isinstance(e, LabelError) or split_of(e.image_path) == split]
    tally = Tally(min_plate_width, unlabelled_plates(directory))
    skipped: list[str] = []
    batch: list[tuple[LabelledImage, np.ndarray | bytes]] = []
    executor = ThreadPoolExecutor(2, thread_name_prefix="eval")
    started = time.perf_counter()
    triton_side = settings.preprocessing == "triton"
    if triton_side and not isinstance(backend, FramePipeline):
        raise ValueError(f'the {backend.name} backend has no Triton-side pipeline (preprocessing "triton")')

    async def flush() -> None:
        if triton_side:
            assert isinstance(backend, FramePipeline)
            encoded = [data for _, data in batch if isinstance(data, bytes)]
            results = await run_encoded_batch(backend, encoded, settings, executor)
            for (labelled, _), result in zip(batch, results):
                if result.invalid is not None:
                    skipped.append(f"{labelled.image_path}: not a readable image ({result.invalid})")
                else:
                    tally.add(labelled.image_path.name, labelled.plates, result.reads)
        else:
            reads = await run_batch(
                backend, [image for _, image in batch if isinstance(image, np.ndarray)], settings, executor
            )
            for (labelled, _), frame_reads in zip(batch, reads):
                tally.add(labelled.image_path.name, labelled.plates, frame_reads)
        batch.clear()

    loop = asyncio.get_running_loop()
    for entry in tqdm(entries, desc="eval", unit="frame", disable=not progress):
        if isinstance(entry, LabelError):
            skipped.append(str(entry))
            continue
        image = await loop.run_in_executor(executor, _load_bytes if triton_side else _load_pixels, entry.image_path)
        if image is None:
            skipped.append(f"{entry.image_path}: not a readable image")
            continue
        batch.append((entry, image))
        if len(batch) == batch_size:
            await flush()
    if batch:
        await flush()
    executor.shutdown()
    for message in skipped:
        log.warning("skipped %s", message)
    return EvaluationReport(tally.summary(time.perf_counter() - started), skipped, tally)


def format_report(report: EvaluationReport) -> str:
    """A plain table for people; the JSON file carries the same numbers."""
    rows = [
        (name, "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value))
        for name, value in report.metrics.items()
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} file(s):")
        lines += [f"  {message}" for message in report.skipped]
    return "\n".join(lines)
