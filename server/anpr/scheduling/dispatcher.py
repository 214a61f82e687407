"""Runs scheduled batches through the models and answers every frame exactly once.

Owns the scheduler's consumer side: one loop takes batches (at most `max_batches_in_flight` at a
time), decodes them, runs the pipeline (`run_batch`: CPU work in a thread pool, model calls on the
backend) and hands each frame's outcome to the frame's own `on_answer` callback. With
`preprocessing = "triton"` the encoded frames of a batch skip decoding here and go to Triton's
`plate_pipeline` in one call (`run_encoded_batch`); raw-pixel frames still take the first path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from anpr.domain import FrameOutcome, FrameStatus, InvalidFrame, PlateRead, Reason
from anpr.inference.backend import BackendWrapper, FramePlates, PipelineRequest, PlateBackend
from anpr.inference.circuit_breaker import CircuitBreaker
from anpr.inference.pipeline import PipelineSettings, run_batch, run_encoded_batch
from anpr.observability.metrics import ServerMetrics
from anpr.observability.rate_limited import RateLimitedLog
from anpr.scheduling.scheduler import DropReason, FrameScheduler, QueuedFrame, SchedulerPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")

DROP_STATUS = {
    DropReason.SUPERSEDED: FrameStatus.DROPPED_STALE,
    DropReason.TOO_OLD: FrameStatus.DROPPED_STALE,
    DropReason.DEADLINE: FrameStatus.DROPPED_STALE,
    DropReason.OVERLOAD: FrameStatus.DROPPED_OVERLOAD,
    DropReason.SHUTDOWN: FrameStatus.DROPPED_OVERLOAD,
    DropReason.CANCELLED: FrameStatus.DROPPED_OVERLOAD,
}
SHUTDOWN_REASON = "server shutting down before inference finished"


@dataclass(eq=False)
class PendingFrame:
    """A validated, not yet decoded frame and how to answer it. `answer` is called exactly once."""

    camera_id: str
    sequence: int
    load_image: Callable[[], np.ndarray]  # decodes the pixels (raises InvalidFrame); run in a worker thread
    received_at: float
    on_answer: Callable[[PendingFrame, FrameOutcome], None]
    stream: object = None  # identifies the client stream, to drop its frames if it goes away
    size: int = 0  # bytes of its (still encoded) image while it waits
    captured_at: float | None = None  # the camera's capture time (Unix seconds), if the frame said
    encoded: bytes | None = None  # its JPEG or PNG bytes (None for raw pixels), for the Triton-side pipeline
    budget_ms: float | None = None  # the sender's latency budget; once submitted, the budget it is held to
    answered: bool = False
    queue_ms: float = 0.0  # filled in as the frame moves on, so any answer carries them
    decode_ms: float = 0.0

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

    def fail(self, code: Reason, reason: str) -> None:
        """Answers FAILED unless already answered (a batch that failed or was cancelled part-way)."""
        if not self.answered:
            self.answer(
                FrameOutcome(FrameStatus.FAILED, reason, code, queue_ms=self.queue_ms, decode_ms=self.decode_ms)
            )


class ReadsObserver(Protocol):
    """Who else wants the reads of processed frames (the vehicle layer: passes and the hotlist)."""

    def read_images(self, frame: np.ndarray, reads: list[PlateRead]) -> tuple[Any, ...]:
        """Images to keep of each read, made from the frame's pixels; runs in a worker thread."""
        ...

    def patch_images(self, reads: list[PlateRead], patches: tuple[bytes, ...]) -> tuple[Any, ...]:
        """Images of each read from the plate patches Triton's pipeline cut (there are no pixels here)."""
        ...

    def frame_read(self, frame: PendingFrame, reads: list[PlateRead], images: Sequence[Any]) -> None:
        """A processed frame's reads (maybe none) and their images; on the event loop, after its answer."""
        ...


@dataclass(frozen=True)
class _FrameReads:
    """A processed frame's reads, with what its read images are made from: its pixels or its patches."""

    frame: PendingFrame
    reads: list[PlateRead]
    inference_ms: float
    pixels: np.ndarray | None = None
    patches: tuple[bytes, ...] = ()


class MeasuredBackend(BackendWrapper):
    """A backend whose model calls are counted in the server's metrics: batch size, latency, errors."""

    def __init__(self, backend: PlateBackend, metrics: ServerMetrics | None) -> None:
        super().__init__(backend)
        self._metrics = metrics

    async def _measured(
        self, model: str, call: Callable[..., Awaitable[T]], batch: Sequence[Any] | np.ndarray, *more: Any
    ) -> T:
        started = time.monotonic()
        try:
            result = await call(batch, *more)
        except Exception:
            if self._metrics:
                self._metrics.backend_errors.labels(self.backend.name, model).inc()
            raise
        if self._metrics:
            self._metrics.batch_size.labels(model).observe(len(batch))
            self._metrics.stage_latency.labels(model).observe(time.monotonic() - started)
        return result

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return await self._measured("detector", self.backend.detect, images)

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        return await self._measured("recogniser", self.backend.recognise, crops)

    async def read_encoded(self, frames: Sequence[bytes], request: PipelineRequest) -> list[FramePlates]:
        return await self._measured("pipeline", self.pipeline.read_encoded, frames, request)


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
        observer: ReadsObserver | None = None,
    ) -> None:
        self.backend = backend
        self.observer = observer
        self.pipeline = pipeline
        self.scheduler = FrameScheduler(policy, self._on_drop)
        self.breaker = CircuitBreaker(backend)
        self._models = MeasuredBackend(self.breaker, metrics)
        if metrics is not None:
            metrics.latency_budget.set((policy.latency_budget_ms or 0.0) / 1000.0)
        self._failure_log = RateLimitedLog(log, logging.WARNING, "batches failed")
        self._slots = asyncio.Semaphore(max_batches_in_flight)
        self._executor = ThreadPoolExecutor(cpu_threads, thread_name_prefix="pipeline")
        self._in_flight: dict[asyncio.Task[None], list[PendingFrame]] = {}  # batch task -> its frames
        self._loop_task: asyncio.Task[None] | None = None

    def learned_batch_seconds(self) -> dict[str, float]:
        """The learned service time of a batch of one and of a full batch (0: none yet), for the gauges."""
        times = self.scheduler.service_times
        times.expire()
        return {
            batch: times.estimate(size) or 0.0
            for batch, size in (("one", 1), ("full", self.scheduler.policy.max_batch))
        }

    @property
    def frames_in_flight(self) -> int:
        """Frames taken from the scheduler whose batch has not finished."""
        return sum(len(batch) for batch in self._in_flight.values())

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="batch-dispatcher")

    def submit(self, frame: PendingFrame) -> None:
        queued = QueuedFrame(frame.camera_id, frame, frame.size, frame.budget_ms)
        self.scheduler.submit(queued)
        frame.budget_ms = queued.budget_ms  # the budget it is held to, for its answer's metrics

    def cancel_stream(self, stream: object) -> int:
        """Drops the waiting frames of a stream whose client went away."""
        return self.scheduler.remove(lambda queued: queued.payload.stream is stream, DropReason.CANCELLED)

    def _on_drop(self, queued: QueuedFrame, reason: DropReason) -> None:
        frame: PendingFrame = queued.payload
        frame.answer(
            FrameOutcome(DROP_STATUS[reason], reason.value, reason.code, queue_ms=_ms_since(queued.enqueued_at))
        )

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            batch = await self.scheduler.next_batch()
            if not batch:
                self._slots.release()
                return  # closed and empty
            frames: list[PendingFrame] = []
            for queued in batch:
                frame = queued.payload
                frame.queue_ms = _ms_since(queued.enqueued_at)
                frames.append(frame)
            task = asyncio.create_task(self._process(frames))
            self._in_flight[task] = frames
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._slots.release()

    async def _decode(self, frames: list[PendingFrame]) -> tuple[list[PendingFrame], list[np.ndarray]]:
        """Decodes a batch in the thread pool; undecodable frames are answered INVALID here."""
        loop = asyncio.get_running_loop()

        def timed(frame: PendingFrame) -> np.ndarray | InvalidFrame:
            started = time.monotonic()
            try:
                return frame.load_image()
            except InvalidFrame as error:
                return error
            finally:
                frame.decode_ms = _ms_since(started)

        decoded = await asyncio.gather(*(loop.run_in_executor(self._executor, timed, f) for f in frames))
        kept: tuple[list[PendingFrame], list[np.ndarray]] = ([], [])
        for frame, image in zip(frames, decoded):
            if isinstance(image, InvalidFrame):
                frame.answer(
                    FrameOutcome(
                        FrameStatus.INVALID, str(image), image.code, queue_ms=frame.queue_ms, decode_ms=frame.decode_ms
                    )
                )
            else:
                kept[0].append(frame)
                kept[1].append(image)
        return kept

    async def _process(self, frames: list[PendingFrame]) -> None:
        # Cancellation (a drain past its grace) propagates: `drain` answers what this batch left.
        taken_at = time.monotonic()
        try:
            encoded = [f for f in frames if f.encoded is not None] if self.pipeline.preprocessing == "triton" else []
            decoded = [f for f in frames if f.encoded is None] if encoded else frames
            parts = await asyncio.gather(self._read_encoded(encoded), self._read_decoded(decoded))
        except Exception as error:  # a backend fault fails this batch, never the server
            self._failure_log.event("batch of %d frames failed: %s", len(frames), error)
            for frame in frames:
                frame.fail(Reason.INFERENCE_FAILED, f"inference failed: {error}")
            return
        processed = [read for part in parts for read in part]
        for read in processed:
            frame = read.frame
            frame.answer(
                FrameOutcome(
                    FrameStatus.PROCESSED,
                    reads=read.reads,
                    queue_ms=frame.queue_ms,
                    decode_ms=frame.decode_ms,
                    inference_ms=read.inference_ms,
                )
            )
        # What the deadline decisions learn from: taken -> answered, decode and models together.
        self.scheduler.observe_batch(len(frames), time.monotonic() - taken_at)
        if self.observer is not None and processed:
            await self._observe(processed)

    async def _read_decoded(self, frames: list[PendingFrame]) -> list[_FrameReads]:
        """Decodes here, then the two model calls (`run_batch`)."""
        if not frames:
            return []
        frames, images = await self._decode(frames)
        if not frames:
            return []
        started = time.monotonic()
        reads = await run_batch(self._models, images, self.pipeline, self._executor)
        inference_ms = _ms_since(started)
        return [_FrameReads(f, r, inference_ms, pixels=i) for f, r, i in zip(frames, reads, images)]

    async def _read_encoded(self, frames: list[PendingFrame]) -> list[_FrameReads]:
        """One call to Triton's pipeline; a frame it could not decode is answered INVALID here."""
        if not frames:
            return []
        started = time.monotonic()
        results = await run_encoded_batch(
            self._models,
            [frame.encoded for frame in frames if frame.encoded is not None],
            self.pipeline,
            self._executor,
            with_patches=self.observer is not None,
        )
        inference_ms = _ms_since(started)
        processed = []
        for frame, result in zip(frames, results):
            if result.invalid is not None:
                frame.answer(
                    FrameOutcome(
                        FrameStatus.INVALID,
                        str(result.invalid),
                        result.invalid.code,
                        queue_ms=frame.queue_ms,
                        inference_ms=inference_ms,
                    )
                )
            else:
                processed.append(_FrameReads(frame, result.reads, inference_ms, patches=result.patches))
        return processed

    async def _observe(self, processed: list[_FrameReads]) -> None:
        """Hands every processed frame (with or without reads: its time moves its camera's passes on),
        and the images of its reads, to the observer: after the answers, so the results never wait for
        it; a fault there costs the events of this batch, nothing else."""
        assert self.observer is not None
        observer = self.observer

        def images(read: _FrameReads) -> tuple[Any, ...]:
            if not read.reads:
                return ()
            if read.pixels is None:
                return observer.patch_images(read.reads, read.patches)
            return observer.read_images(read.pixels, read.reads)

        try:
            kept = await asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: [images(read) for read in processed]
            )
            for read, frame_images in zip(processed, kept):
                observer.frame_read(read.frame, read.reads, frame_images)
        except Exception:
            log.exception("the reads of a batch of %d frames could not be observed", len(processed))

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
        # The one place cancelled batches are answered, including tasks cancelled before their first step.
        for _, frames in cancelled:
            for frame in frames:
                frame.fail(Reason.SHUTDOWN, SHUTDOWN_REASON)
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        self._executor.shutdown(wait=False, cancel_futures=True)


def _ms_since(start: float) -> float:
    return (time.monotonic() - start) * 1000.0
