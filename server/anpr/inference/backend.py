"""The one small interface every inference backend implements, and the backend with no models."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from anpr.contract import CTC_COLUMNS, DETECTOR, NUM_CLASSES, RECOGNISER, ModelVersion
from anpr.domain import InvalidFrame
from anpr.vision.detection import Detection


class BackendUnavailable(RuntimeError):
    """The models cannot be run right now (e.g. Triton is down); frames get FAILED, not lost."""


class PlateBackend(Protocol):
    """Async, batched detector and recogniser calls on uint8 inputs (the model contract's shapes)."""

    name: str

    async def start(self) -> None: ...

    async def ready(self) -> bool: ...

    def model_versions(self) -> tuple[ModelVersion, ModelVersion]:
        """(detector, recogniser) versions this backend runs."""
        ...

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images (N, H, W) uint8 letterboxed grey -> boxes (N, K, 4) in input pixels, scores (N, K)."""
        ...

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        """crops (M, H, W) uint8 grey -> per-column class probabilities (M, T, classes)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class FramePlates:
    """What the Triton-side pipeline found in one encoded frame: its detections (frame pixels, above the
    pipeline's score threshold), the recogniser's probabilities for each, and each plate's patch when
    asked for; or why the frame could not be decoded."""

    detections: list[Detection]
    probs: np.ndarray  # (len(detections), T, classes)
    patches: tuple[bytes, ...] = ()
    invalid: InvalidFrame | None = None


@dataclass(frozen=True)
class PipelineRequest:
    """What the front end asks of the Triton-side pipeline, beside the frames."""

    detector_version: int
    recogniser_version: int
    score_threshold: float
    nms_iou: float
    max_plates: int
    resample: str = "opencv"  # how Triton's DALI letterbox scales: "opencv" (the front end's pixels) or "dali"
    with_patches: bool = False


@runtime_checkable
class FramePipeline(Protocol):
    """A backend that takes encoded frames and does all the rest (`pipeline.preprocessing = "triton"`)."""

    async def read_encoded(self, frames: Sequence[bytes], request: PipelineRequest) -> list[FramePlates]:
        """One result per frame, in order."""
        ...


NULL_VERSIONS = (ModelVersion(DETECTOR.name, "null"), ModelVersion(RECOGNISER.name, "null"))


class NullBackend:
    """No model at all: finds no plates, after `call_s` of waiting that spends no CPU (0: instantly).
    Measures the front end's own cost (benchmarks); with a GPU's batch time, at the batch sizes a
    front end forms in front of one (instantly, every batch is the frame or two that just arrived)."""

    name = "null"

    def __init__(self, call_s: float = 0.0) -> None:
        self.call_s = call_s

    async def _wait(self) -> None:
        if self.call_s:
            await asyncio.sleep(self.call_s)

    async def start(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    def model_versions(self) -> tuple[ModelVersion, ModelVersion]:
        return NULL_VERSIONS

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        await self._wait()
        return np.zeros((len(images), 1, 4), np.float32), np.zeros((len(images), 1), np.float32)

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        await self._wait()
        return np.zeros((len(crops), CTC_COLUMNS, NUM_CLASSES), np.float32)

    async def read_encoded(self, frames: Sequence[bytes], request: PipelineRequest) -> list[FramePlates]:
        await self._wait()
        empty = np.zeros((0, CTC_COLUMNS, NUM_CLASSES), np.float32)
        return [FramePlates([], empty) for _ in frames]

    async def close(self) -> None:
        return None


class BackendWrapper:
    """A backend around another, passing its lifecycle through; subclasses wrap the model calls."""

    def __init__(self, backend: PlateBackend) -> None:
        self.backend = backend
        self.name = backend.name

    async def start(self) -> None:
        await self.backend.start()

    async def ready(self) -> bool:
        return await self.backend.ready()

    def model_versions(self) -> tuple[ModelVersion, ModelVersion]:
        return self.backend.model_versions()

    @property
    def pipeline(self) -> FramePipeline:
        """The wrapped backend as a Triton-side pipeline; BackendUnavailable if it is not one."""
        if not isinstance(self.backend, FramePipeline):
            raise BackendUnavailable(f"the {self.name} backend takes decoded frames only")
        return self.backend

    async def close(self) -> None:
        await self.backend.close()
