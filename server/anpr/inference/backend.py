"""The one small interface every inference backend implements, and the in-process ONNX one."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from anpr.config import PipelineSettings
from anpr.inference.onnxruntime_models import OnnxRuntimeModels


class BackendUnavailable(RuntimeError):
    """The models cannot be run right now (e.g. Triton is down); frames get FAILED, not lost."""


class PlateBackend(Protocol):
    """Async, batched detector and recogniser calls on uint8 inputs."""

    name: str

    async def start(self) -> None: ...

    async def ready(self) -> bool: ...

    def model_versions(self) -> tuple[str, str]: ...

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    async def recognise(self, crops: np.ndarray) -> np.ndarray: ...

    async def close(self) -> None: ...


class OnnxRuntimeBackend:
    """The ONNX models in-process, run on a small thread pool (ONNX Runtime releases the GIL)."""

    name = "onnxruntime"

    def __init__(self, settings: PipelineSettings, concurrency: int = 2) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="onnxruntime")
        self._models: OnnxRuntimeModels | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        s = self._settings
        self._models = await loop.run_in_executor(
            self._executor, OnnxRuntimeModels, s.detector_path, s.recogniser_path, s.onnx_threads
        )

    async def ready(self) -> bool:
        return self._models is not None

    def model_versions(self) -> tuple[str, str]:
        return (
            f"plate_detector:{self._settings.detector_version}",
            f"plate_recogniser:{self._settings.recogniser_version}",
        )

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._models is None:
            raise BackendUnavailable("ONNX Runtime models are not loaded")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._models.detect, images)

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        if self._models is None:
            raise BackendUnavailable("ONNX Runtime models are not loaded")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._models.recognise, crops)

    async def close(self) -> None:
        self._models = None
        self._executor.shutdown(wait=True, cancel_futures=True)


class NullBackend:
    """No model at all: finds no plates, instantly. Measures the front end's own cost (benchmarks)."""

    name = "null"

    async def start(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    def model_versions(self) -> tuple[str, str]:
        return "plate_detector:null", "plate_recogniser:null"

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(images), 1, 4), np.float32), np.zeros((len(images), 1), np.float32)

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        return np.zeros((len(crops), 32, 37), np.float32)

    async def close(self) -> None:
        return None
