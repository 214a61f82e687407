"""The anpr.v1 PlateRecognition service: StreamFrames and Recognize.

Per-frame problems are results (INVALID with a reason), never RPC errors; RPC status codes are
only for the call as a whole (UNAVAILABLE while not ready or draining).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import grpc
import numpy as np

from anpr.api.messages import frame_image, frame_result
from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.domain import FrameOutcome, FrameStatus, InvalidFrame, Reason
from anpr.ingest.decode import DecodeLimits, decode_image, validate_image
from anpr.observability import CameraStatsBook, ServerMetrics
from anpr.scheduling.dispatcher import BatchDispatcher, PendingFrame

log = logging.getLogger(__name__)


class PlateRecognitionServicer(anpr_pb2_grpc.PlateRecognitionServicer):
    def __init__(
        self,
        dispatcher: BatchDispatcher,
        limits: DecodeLimits,
        max_unanswered_per_stream: int,
        metrics: ServerMetrics,
        cameras: CameraStatsBook,
    ) -> None:
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.cameras = cameras
        self.limits = limits
        self.max_unanswered_per_stream = max_unanswered_per_stream
        self.accepting = False  # set once the models are ready; cleared when draining
        self.draining = False
        self._readers: set[asyncio.Task[None]] = set()  # one per open stream

    def stop_reading(self) -> None:
        """End of a drain: open streams stop reading, flush their results and end with UNAVAILABLE.

        Until this is called, frames read while draining are answered at once (DROPPED_OVERLOAD,
        "shutting down"), so a client sees an answer for every frame the server took off the wire.
        """
        self.accepting = False
        self.draining = True
        for reader in self._readers:
            reader.cancel()

    def _answer(
        self,
        reply: Callable[[anpr_pb2.FrameResult], None],
        camera_id: str,
        sequence: int,
        outcome: FrameOutcome,
        received_at: float,
    ) -> None:
        """Every frame's answer passes here once: to the client, the metrics and the camera's stats."""
        result = frame_result(camera_id, sequence, outcome, received_at, self.dispatcher.backend.model_versions())
        self.metrics.frame_answered(
            outcome.status,
            outcome.code,
            outcome.decode_ms,
            outcome.queue_ms,
            result.timings.total_ms,
            len(outcome.reads),
        )
        if camera_id:
            self.cameras.answered(camera_id, outcome.status, result.timings.total_ms)
        reply(result)

    def _intake(self, frame: anpr_pb2.Frame, reply: Callable[[anpr_pb2.FrameResult], None], stream: object) -> None:
        """Validates a frame and schedules it, or answers INVALID at once. Decoding comes later."""
        received_at = time.monotonic()
        self.metrics.frames_received.inc()
        if frame.camera_id:
            self.cameras.received(frame.camera_id)
        image = frame_image(frame)
        try:
            if not frame.camera_id:
                raise InvalidFrame("camera_id is required", Reason.MISSING_CAMERA_ID)
            validate_image(image, self.limits)
        except InvalidFrame as error:
            log.debug("invalid frame from camera %r: %s", frame.camera_id, error)
            outcome = FrameOutcome(FrameStatus.INVALID, str(error), error.code)
            self._answer(reply, frame.camera_id, frame.sequence, outcome, received_at)
            return
        assert image is not None  # validate_image refuses a frame without one

        def load_image() -> np.ndarray:
            return decode_image(image)

        def on_answer(pending: PendingFrame, outcome: FrameOutcome) -> None:
            self._answer(reply, pending.camera_id, pending.sequence, outcome, pending.received_at)

        self.dispatcher.submit(
            PendingFrame(frame.camera_id, frame.sequence, load_image, received_at, on_answer, stream)
        )

    async def GetStats(
        self, request: anpr_pb2.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> anpr_pb2.GetStatsResponse:
        now = time.monotonic()
        wanted = set(request.camera_ids)
        depths = self.dispatcher.scheduler.queue_depths()
        cameras = [
            anpr_pb2.CameraStats(
                camera_id=camera_id,
                received=stats.received,
                processed=stats.processed,
                dropped=stats.dropped,
                invalid=stats.invalid,
                failed=stats.failed,
                last_frame_age_s=now - stats.last_frame_at,
                queued=depths.get(camera_id, 0),
                last_latency_ms=stats.last_latency_ms,
            )
            for camera_id, stats in self.cameras.snapshot().items()
            if not wanted or camera_id in wanted
        ]
        return anpr_pb2.GetStatsResponse(
            cameras=cameras,
            queued_frames=self.dispatcher.scheduler.queued,
            frames_in_flight=self.dispatcher.frames_in_flight,
            active_streams=len(self._readers),
        )

    async def StreamFrames(
        self, request_iterator: AsyncIterator[anpr_pb2.Frame], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[anpr_pb2.FrameResult]:
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not ready or draining")
        # Bounded by `slots`: one result per unanswered frame; None marks the end of the client's input.
        results: asyncio.Queue[anpr_pb2.FrameResult | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self.max_unanswered_per_stream)
        stream = object()
        unanswered = 0

        def reply(result: anpr_pb2.FrameResult) -> None:
            results.put_nowait(result)

        half_closed = False

        async def read() -> None:
            nonlocal unanswered, half_closed
            frames = aiter(request_iterator)
            try:
                while True:
                    # Pacing: a slot is taken before reading, so a stream with too many frames
                    # unanswered is not read and gRPC flow control holds the sender back.
                    # Cancellation (draining) lands on an await where no frame is half-accepted.
                    await slots.acquire()
                    try:
                        frame = await anext(frames)
                    except StopAsyncIteration:
                        half_closed = True
                        return
                    unanswered += 1
                    self._intake(frame, reply, stream)
            finally:
                results.put_nowait(None)

        reader = asyncio.create_task(read(), name="stream-reader")
        self._readers.add(reader)
        self.metrics.active_streams.inc()
        reading = True
        try:
            while reading or unanswered:
                item = await results.get()
                if item is None:
                    reading = False
                    continue
                unanswered -= 1
                slots.release()
                yield item
        finally:
            self._readers.discard(reader)
            self.metrics.active_streams.dec()
            reader.cancel()
            if unanswered:  # the client went away: its waiting frames need no model time
                dropped = self.dispatcher.cancel_stream(stream)
                log.info("stream closed with %d frames unanswered (%d dropped from queues)", unanswered, dropped)
        if not half_closed and self.draining:
            # Drained while the client was still sending: say so, so it resends elsewhere what it
            # sent after the last result it got.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down; this stream read no more frames")

    async def Recognize(
        self, request: anpr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> anpr_pb2.RecognizeResponse:
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not ready or draining")
        answered: asyncio.Future[anpr_pb2.FrameResult] = asyncio.get_running_loop().create_future()
        stream = object()

        def reply(result: anpr_pb2.FrameResult) -> None:
            if not answered.done():
                answered.set_result(result)

        self._intake(request.frame, reply, stream)
        try:
            return anpr_pb2.RecognizeResponse(result=await answered)
        except asyncio.CancelledError:
            self.dispatcher.cancel_stream(stream)
            raise
