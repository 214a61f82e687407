"""The one small interface every inference backend implements, and the backend with no models."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from anpr.contract import CTC_COLUMNS, DETECTOR, NUM_CLASSES, RECOGNISER, ModelVersion


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


class NullBackend:
    """No model at all: finds no plates, instantly. Measures the front end's own cost (benchmarks)."""

    name = "null"

    async def start(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    def model_versions(self) -> tuple[ModelVersion, ModelVersion]:
        return ModelVersion(DETECTOR.name, "null"), ModelVersion(RECOGNISER.name, "null")

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(images), 1, 4), np.float32), np.zeros((len(images), 1), np.float32)

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        return np.zeros((len(crops), CTC_COLUMNS, NUM_CLASSES), np.float32)

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

    async def close(self) -> None:
        await self.backend.close()
