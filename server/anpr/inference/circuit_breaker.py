"""Fail fast while the models are failing: after `failure_threshold` model calls in a row fail, calls
fail at once (frames answered FAILED without waiting for a timeout) for `open_s`; then one call is let
through to probe, and its success closes the circuit again. A frozen Triton then costs each frame
milliseconds, not the call deadline."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from anpr.inference.backend import BackendUnavailable, BackendWrapper, FramePlates, PipelineRequest, PlateBackend

T = TypeVar("T")


class CircuitBreaker(BackendWrapper):
    """A PlateBackend around another, with the policy above."""

    def __init__(
        self,
        backend: PlateBackend,
        failure_threshold: int = 3,
        open_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(backend)
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened = 0  # times the circuit opened

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    async def _call(self, call: Callable[..., Awaitable[T]], *batch: Any) -> T:
        if self._opened_at is not None:
            if self._probing or self._clock() - self._opened_at < self.open_s:
                raise BackendUnavailable("models failing: circuit open, not calling them for a moment")
            self._probing = True
        try:
            result = await call(*batch)
        except Exception:  # not cancellation (a drain): that says nothing about the models
            self._failed()
            raise
        finally:
            self._probing = False
        self._failures = 0
        self._opened_at = None
        return result

    def _failed(self) -> None:
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            if self._opened_at is None:
                self.opened += 1
            self._opened_at = self._clock()

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return await self._call(self.backend.detect, images)

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        return await self._call(self.backend.recognise, crops)

    async def read_encoded(self, frames: Sequence[bytes], request: PipelineRequest) -> list[FramePlates]:
        return await self._call(self.pipeline.read_encoded, frames, request)
