"""`anpr models eval DIR`: the whole pipeline over a labelled image set, scored."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anpr.config import PipelineSettings
from anpr.evaluation.labelled_set import LabelError, LabelledImage, iter_labelled_set
from anpr.evaluation.metrics import Tally
from anpr.inference.pipeline import PlateModels, read_plates
from anpr.ingest.decode import InvalidFrame, decode_encoded

log = logging.getLogger(__name__)


@dataclass
class EvaluationReport:
    metrics: dict[str, float | int]
    skipped: list[str] = field(default_factory=list)  # one message per file that was not scored


def _load_pixels(path: Path) -> np.ndarray | None:
    """The image as the server would decode it, or None if it does not decode."""
    try:
        return decode_encoded(path.read_bytes())
    except InvalidFrame:
        return None


def evaluate(
    directory: Path, models: PlateModels, settings: PipelineSettings, batch_size: int = 8, progress: bool = True
) -> EvaluationReport:
    """Scores the pipeline on every readable, labelled image of `directory`; skips the rest with a reason."""
    if not directory.is_dir():
        raise FileNotFoundError(f"not a folder: {directory}")
    entries = list(iter_labelled_set(directory))
    tally = Tally()
    skipped: list[str] = []
    batch: list[tuple[LabelledImage, np.ndarray]] = []
    started = time.perf_counter()

    def flush() -> None:
        reads = read_plates(models, [image for _, image in batch], settings)
        for (labelled, _), frame_reads in zip(batch, reads):
            tally.add_frame(
                np.array([p.box for p in labelled.plates], dtype=np.float32).reshape(-1, 4),
                [p.text for p in labelled.plates],
                np.array([r.box for r in frame_reads], dtype=np.float32).reshape(-1, 4),
                [r.text for r in frame_reads],
            )
        batch.clear()

    for entry in tqdm(entries, desc="eval", unit="frame", disable=not progress):
        if isinstance(entry, LabelError):
            skipped.append(str(entry))
            continue
        image = _load_pixels(entry.image_path)
        if image is None:
            skipped.append(f"{entry.image_path}: not a readable image")
            continue
        batch.append((entry, image))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    for message in skipped:
        log.warning("skipped %s", message)
    return EvaluationReport(tally.summary(time.perf_counter() - started), skipped)


def format_report(report: EvaluationReport) -> str:
    """A plain table for people; the JSON file carries the same numbers."""
    rows = [
        (name, f"{value:.4f}" if isinstance(value, float) else str(value)) for name, value in report.metrics.items()
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} file(s):")
        lines += [f"  {message}" for message in report.skipped]
    return "\n".join(lines)
