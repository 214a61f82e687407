"""Runs scheduled batches through the models and answers every frame exactly once.

Owns the scheduler's consumer side: one loop takes batches (at most `max_batches_in_flight` at a
time), runs the shared pipeline steps (CPU work in a thread pool, model calls on the backend) and
hands each frame's result to the frame's own `answer` callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from anpr.config import PipelineSettings
from anpr.inference.backend import PlateBackend
from anpr.inference.pipeline import PlateRead, assemble_reads, detect_and_crop, prepare_detector_batch
from anpr.observability.metrics import ServerMetrics
from anpr.scheduling.scheduler import DropReason, FrameScheduler, QueuedFrame, SchedulerPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class FrameOutcome:
    """The one answer a frame gets. `status` is a FrameStatus name of the API."""

    status: str
    reason: str = ""
    code: str = ""  # a short fixed word for the reason (metric label), e.g. "superseded", "corrupt"
    reads: list[PlateRead] = field(default_factory=list)
    queue_ms: float = 0.0
    decode_ms: float = 0.0
    inference_ms: float = 0.0


DROP_STATUS = {
    DropReason.SUPERSEDED: "DROPPED_STALE",
    DropReason.TOO_OLD: "DROPPED_STALE",
    DropReason.OVERLOAD: "DROPPED_OVERLOAD",
    DropReason.SHUTDOWN: "DROPPED_OVERLOAD",
    DropReason.CANCELLED: "DROPPED_OVERLOAD",
}


SHUTDOWN_REASON = "server shutting down before inference finished"


class UnusableImage(ValueError):
    """Raised by a frame's `load_image` when its pixels cannot be decoded; the frame is INVALID."""

    def __init__(self, message: str, code: str = "corrupt") -> None:
        super().__init__(message)
        self.code = code


@dataclass(eq=False)
class PendingFrame:
    """A validated, not yet decoded frame and how to answer it. `answer` is called exactly once."""

    camera_id: str
    sequence: int
    load_image: Callable[[], np.ndarray]  # decodes the pixels; run in a worker thread
    received_at: float
    on_answer: Callable[[PendingFrame, FrameOutcome], None]
    stream: object = None  # identifies the client stream, to drop its frames if it goes away
    answered: bool = False

    def answer(self, outcome: FrameOutcome) -> None:
        if self.answered:
            log.error(
                "frame answered twice (camera %s sequence %d); second answer ignored", self.camera_id, self.sequence
            )
            return
        self.answered = True
        try:
            self.on_answer(self, outcome)
        except Exception:  # a bug in answering must not take the batch (and its other frames) down
            log.exception("could not deliver the answer for camera %s sequence %d", self.camera_id, self.sequence)


class BatchDispatcher:
    """Scheduler in front, backend behind; see the module docstring."""

    def __init__(
        self,
        backend: PlateBackend,
        pipeline: PipelineSettings,
        policy: SchedulerPolicy,
        max_batches_in_flight: int,
        cpu_threads: int = 2,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.backend = backend
        self.pipeline = pipeline
        self.metrics = metrics
        self.scheduler = FrameScheduler(policy, self._on_drop)
        self._slots = asyncio.Semaphore(max_batches_in_flight)
        self._executor = ThreadPoolExecutor(cpu_threads, thread_name_prefix="pipeline")
        self._in_flight: dict[asyncio.Task[None], list[QueuedFrame]] = {}  # batch task -> its frames
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def frames_in_flight(self) -> int:
        """Frames taken from the scheduler whose batch has not finished."""
        return sum(len(batch) for batch in self._in_flight.values())

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="batch-dispatcher")

    def submit(self, frame: PendingFrame) -> None:
        self.scheduler.submit(QueuedFrame(frame.camera_id, frame))

    def cancel_stream(self, stream: object) -> int:
        """Drops the waiting frames of a stream whose client went away."""
        return self.scheduler.remove(lambda queued: queued.payload.stream is stream, DropReason.CANCELLED)

    def _on_drop(self, queued: QueuedFrame, reason: DropReason) -> None:
        frame: PendingFrame = queued.payload
        frame.answer(
            FrameOutcome(DROP_STATUS[reason], reason.value, reason.name.lower(), queue_ms=_ms_since(queued.enqueued_at))
        )

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            batch = await self.scheduler.next_batch()
            if not batch:
                self._slots.release()
                return  # closed and empty
            task = asyncio.create_task(self._process(batch))
            self._in_flight[task] = batch
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._slots.release()

    async def _decode(self, frames: list[PendingFrame], queue_ms: list[float]) -> tuple[list, list, list]:
        """Decodes a batch in the thread pool; undecodable frames are answered INVALID here."""
        loop = asyncio.get_running_loop()

        def timed(frame: PendingFrame) -> tuple[np.ndarray | UnusableImage, float]:
            started = time.monotonic()
            try:
                return frame.load_image(), _ms_since(started)
            except UnusableImage as error:
                return error, _ms_since(started)

        decoded = await asyncio.gather(*(loop.run_in_executor(self._executor, timed, f) for f in frames))
        kept: tuple[list, list, list] = ([], [], [])
        for frame, waited, (image, decode_ms) in zip(frames, queue_ms, decoded):
            if isinstance(image, UnusableImage):
                frame.answer(FrameOutcome("INVALID", str(image), image.code, queue_ms=waited, decode_ms=decode_ms))
            else:
                for column, value in zip(kept, (frame, image, (waited, decode_ms))):
                    column.append(value)
        return kept

    async def _call_model(self, model: str, call: Callable[[np.ndarray], Awaitable[T]], batch: np.ndarray) -> T:
        """One backend call, measured: batch size, per-frame latency, errors."""
        started = time.monotonic()
        try:
            result = await call(batch)
        except Exception:
            if self.metrics:
                self.metrics.backend_errors.labels(self.backend.name, model).inc()
            raise
        if self.metrics:
            self.metrics.batch_size.labels(model).observe(len(batch))
            self.metrics.stage_latency.labels(model).observe(time.monotonic() - started)
        return result

    async def _process(self, batch: list[QueuedFrame]) -> None:
        frames: list[PendingFrame] = [queued.payload for queued in batch]
        waits = [(_ms_since(queued.enqueued_at), 0.0) for queued in batch]
        loop = asyncio.get_running_loop()
        try:
            frames, images, waits = await self._decode(frames, [w for w, _ in waits])
            if not frames:
                return
            started = time.monotonic()
            prepared = await loop.run_in_executor(self._executor, prepare_detector_batch, images)
            boxes, scores = await self._call_model("detector", self.backend.detect, prepared.images)
            detections, crops = await loop.run_in_executor(
                self._executor, detect_and_crop, images, prepared, boxes, scores, self.pipeline
            )
            probs = await self._call_model("recogniser", self.backend.recognise, crops) if len(crops) else None
            reads = await loop.run_in_executor(self._executor, assemble_reads, detections, probs, self.pipeline)
        except asyncio.CancelledError:
            self._fail(frames, waits, "shutdown", SHUTDOWN_REASON)
            raise
        except Exception as error:  # a backend fault fails this batch, never the server
            log.warning("batch of %d frames failed: %s", len(frames), error)
            self._fail(frames, waits, "inference_failed", f"inference failed: {error}")
            return
        inference_ms = _ms_since(started)
        for frame, frame_reads, (waited, decode_ms) in zip(frames, reads, waits):
            frame.answer(FrameOutcome("PROCESSED", "", "", frame_reads, waited, decode_ms, inference_ms))

    @staticmethod
    def _fail(frames: list[PendingFrame], waits: list[tuple[float, float]], code: str, reason: str) -> None:
        for frame, (waited, decode_ms) in zip(frames, waits):
            if not frame.answered:
                frame.answer(FrameOutcome("FAILED", reason, code, queue_ms=waited, decode_ms=decode_ms))

    async def drain(self, grace_s: float) -> None:
        """Stops taking frames, finishes what is queued within `grace_s`, answers the rest, stops."""
        self.scheduler.close()
        deadline = time.monotonic() + grace_s
        while (self.scheduler.queued or self._in_flight) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.scheduler.drop_all(DropReason.SHUTDOWN)
        cancelled = list(self._in_flight.items())
        for task, _ in cancelled:
            task.cancel()
        await asyncio.gather(*(task for task, _ in cancelled), return_exceptions=True)
        for _, batch in cancelled:  # a task cancelled before its first step never ran _process's handler
            waits = [(_ms_since(queued.enqueued_at), 0.0) for queued in batch]
            self._fail([queued.payload for queued in batch], waits, "shutdown", SHUTDOWN_REASON)
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        self._executor.shutdown(wait=False, cancel_futures=True)


def _ms_since(start: float) -> float:
    return (time.monotonic() - start) * 1000.0
