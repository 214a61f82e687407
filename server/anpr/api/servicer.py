"""The anpr.v1 PlateRecognition service: StreamFrames, Recognize and GetStats.

Per-frame problems are results (INVALID with a reason), never RPC errors; RPC status codes are
only for the call as a whole: UNAVAILABLE while not ready or draining, RESOURCE_EXHAUSTED past the
stream limit, UNAUTHENTICATED / PERMISSION_DENIED from the access policy, INVALID_ARGUMENT for a
message that is not an anpr.v1 message at all. A stream that must end early (a malformed message, a
camera outside the caller's prefixes) first delivers the result of every frame it read, then ends
with a status that says how many messages were read, so the client knows what to resend.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable

import grpc
import numpy as np

from anpr.api.messages import (
    capture_record_message,
    captured_at,
    frame_image,
    frame_result,
    hotlist_hit_message,
)
from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.domain import FrameOutcome, FrameStatus, InvalidFrame
from anpr.ingest.camera_ids import check_camera_id
from anpr.ingest.decode import DecodeLimits, check_shape, decode_image, validate_image
from anpr.observability import CameraStatsBook, ServerMetrics
from anpr.observability.rate_limited import RateLimitedLog
from anpr.scheduling.dispatcher import BatchDispatcher, PendingFrame
from anpr.security import AccessControl, Grant, Rpc
from anpr.vehicles.records import HotlistHit
from anpr.vehicles.service import VehicleEvents

log = logging.getLogger(__name__)
SERVICE = "anpr.v1.PlateRecognition"


class MalformedMessage:
    """Stands for a request that did not parse as its message type (e.g. invalid UTF-8 in a string
    field); the servicer answers it with INVALID_ARGUMENT instead of gRPC ending the call silently."""

    def __init__(self, error: Exception) -> None:
        self.error = f"{type(error).__name__}: {error}"[:200]


def _tolerant(parse: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def deserialise(data: bytes) -> object:
        try:
            return parse(data)
        except Exception as error:  # protobuf's DecodeError and friends
            return MalformedMessage(error)

    return deserialise


BUDGET_METADATA = "anpr-latency-budget-ms"  # a call's latency budget for its frames that give none


async def _metadata_budget_ms(context: grpc.aio.ServicerContext) -> float | None:
    """The call's `anpr-latency-budget-ms` metadata (a positive number of milliseconds), or None;
    anything else ends the call INVALID_ARGUMENT."""
    values = [value for key, value in context.invocation_metadata() or () if key == BUDGET_METADATA]
    if not values:
        return None
    try:
        budget = float(values[-1])
    except (TypeError, ValueError):
        budget = math.nan
    if not math.isfinite(budget) or budget <= 0:
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"{BUDGET_METADATA} must be a positive number of milliseconds"
        )
    return budget


def add_to_server(servicer: PlateRecognitionServicer, server: grpc.aio.Server) -> None:
    """Registers the service like the generated `add_PlateRecognitionServicer_to_server`, with request
    parsing that hands a malformed message to the servicer instead of failing the call inside gRPC."""
    handlers = {
        "StreamFrames": grpc.stream_stream_rpc_method_handler(
            servicer.StreamFrames,
            request_deserializer=_tolerant(anpr_pb2.Frame.FromString),
            response_serializer=anpr_pb2.FrameResult.SerializeToString,
        ),
        "StreamFrameBatches": grpc.stream_stream_rpc_method_handler(
            servicer.StreamFrameBatches,
            request_deserializer=_tolerant(anpr_pb2.FrameBatch.FromString),
            response_serializer=anpr_pb2.FrameResultBatch.SerializeToString,
        ),
        "Recognize": grpc.unary_unary_rpc_method_handler(
            servicer.Recognize,
            request_deserializer=_tolerant(anpr_pb2.RecognizeRequest.FromString),
            response_serializer=anpr_pb2.RecognizeResponse.SerializeToString,
        ),
        "GetStats": grpc.unary_unary_rpc_method_handler(
            servicer.GetStats,
            request_deserializer=_tolerant(anpr_pb2.GetStatsRequest.FromString),
            response_serializer=anpr_pb2.GetStatsResponse.SerializeToString,
        ),
        "SubscribeEvents": grpc.unary_stream_rpc_method_handler(
            servicer.SubscribeEvents,
            request_deserializer=_tolerant(anpr_pb2.SubscribeEventsRequest.FromString),
            response_serializer=anpr_pb2.VehicleEvent.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


class StreamEnded(Exception):
    """Why a stream stopped reading early: the status it ends with once its results are delivered."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class PlateRecognitionServicer(anpr_pb2_grpc.PlateRecognitionServicer):
    def __init__(
        self,
        dispatcher: BatchDispatcher,
        limits: DecodeLimits,
        max_unanswered_per_stream: int,
        metrics: ServerMetrics,
        cameras: CameraStatsBook,
        access: AccessControl,
        max_camera_id_length: int = 128,
        max_streams: int = 100,
        vehicles: VehicleEvents | None = None,
        max_frames_per_message: int = 256,
    ) -> None:
        self.dispatcher = dispatcher
        self.max_frames_per_message = max_frames_per_message
        self.vehicles = vehicles
        self.metrics = metrics
        self.cameras = cameras
        self.limits = limits
        self.access = access
        self.max_camera_id_length = max_camera_id_length
        self.max_streams = max_streams
        self.max_unanswered_per_stream = max_unanswered_per_stream
        self._invalid_log = RateLimitedLog(log, logging.INFO, "invalid frames")
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
        budget_ms: float | None = None,
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
            budget_ms,
        )
        if camera_id:
            self.cameras.answered(camera_id, outcome.status, result.timings.total_ms)
        reply(result)

    def _answer_invalid(
        self,
        reply: Callable[[anpr_pb2.FrameResult], None],
        camera_id: str,
        sequence: int,
        error: InvalidFrame,
        received_at: float,
    ) -> None:
        self._invalid_log.event("invalid frame: %s", error.code)
        self._answer(reply, camera_id, sequence, FrameOutcome(FrameStatus.INVALID, str(error), error.code), received_at)

    def _intake(
        self,
        frames: list[anpr_pb2.Frame],
        reply: Callable[[anpr_pb2.FrameResult], None],
        stream: object,
        budget_ms: float | None = None,
    ) -> None:
        """Takes the frames of one message, received now, in order. `budget_ms`: the call's latency
        budget, for a frame that does not give its own."""
        received_at = time.monotonic()
        self.metrics.frames_received.inc(len(frames))
        for frame in frames:
            self._intake_frame(frame, reply, stream, budget_ms, received_at)

    def _intake_frame(
        self,
        frame: anpr_pb2.Frame,
        reply: Callable[[anpr_pb2.FrameResult], None],
        stream: object,
        budget_ms: float | None,
        received_at: float,
    ) -> None:
        """Validates a frame and schedules it, or answers INVALID at once. Decoding comes later. Only
        a valid camera id is kept (stats, queues) or echoed back (not a hostile id of megabytes)."""
        camera_id = frame.camera_id
        image = frame_image(frame)
        try:
            check_camera_id(camera_id, self.max_camera_id_length)
        except InvalidFrame as error:
            self._answer_invalid(reply, "", frame.sequence, error, received_at)
            return
        self.cameras.received(camera_id)
        try:
            validate_image(image, self.limits)
        except InvalidFrame as error:
            self._answer_invalid(reply, camera_id, frame.sequence, error, received_at)
            return
        assert image is not None  # validate_image refuses a frame without one

        def load_image() -> np.ndarray:
            return decode_image(image)

        def on_answer(pending: PendingFrame, outcome: FrameOutcome) -> None:
            self._answer(reply, pending.camera_id, pending.sequence, outcome, pending.received_at, pending.budget_ms)

        size = len(image) if isinstance(image, bytes) else len(image.pixels)
        self.dispatcher.submit(
            PendingFrame(
                camera_id,
                frame.sequence,
                load_image,
                received_at,
                on_answer,
                stream,
                size=size,
                captured_at=captured_at(frame),
                encoded=image if isinstance(image, bytes) else None,
                budget_ms=float(frame.latency_budget_ms) if frame.latency_budget_ms else budget_ms,
            )
        )

    def intake_video_frame(self, camera_id: str, sequence: int, frame: object, width: int, height: int) -> None:
        """A frame of a camera's video (WHIP), already decoded: checked, counted and scheduled like a gRPC
        frame; converted to grey in a worker thread when it wins a batch slot. Its answer is only counted:
        its reads reach clients as capture records and hits (SubscribeEvents)."""
        received_at = time.monotonic()
        self.metrics.frames_received.inc()
        self.cameras.received(camera_id)

        def discard(_result: anpr_pb2.FrameResult) -> None:
            pass

        try:
            check_shape(width, height, self.limits)
        except InvalidFrame as error:
            self._answer_invalid(discard, camera_id, sequence, error, received_at)
            return

        def on_answer(pending: PendingFrame, outcome: FrameOutcome) -> None:
            self._answer(discard, camera_id, sequence, outcome, received_at, pending.budget_ms)

        self.dispatcher.submit(
            PendingFrame(
                camera_id,
                sequence,
                lambda: frame.to_ndarray(format="gray"),  # type: ignore[attr-defined]  # an av.VideoFrame
                received_at,
                on_answer,
                stream=camera_id,
                size=width * height * 3 // 2,  # YUV 4:2:0 while it waits
            )
        )

    async def _refuse_malformed(self, request: object, context: grpc.aio.ServicerContext) -> None:
        if isinstance(request, MalformedMessage):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a valid {SERVICE} request: {request.error}")

    async def GetStats(
        self, request: anpr_pb2.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> anpr_pb2.GetStatsResponse:
        await self.access.authorise(context, Rpc.GET_STATS)
        await self._refuse_malformed(request, context)
        now = time.monotonic()
        wanted = set(request.camera_ids) or None
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
            for camera_id, stats in self.cameras.snapshot(wanted).items()
        ]
        return anpr_pb2.GetStatsResponse(
            cameras=cameras,
            queued_frames=self.dispatcher.scheduler.queued,
            frames_in_flight=self.dispatcher.frames_in_flight,
            active_streams=len(self._readers),
        )

    def _check(self, message: object, grant: Grant, read: int, batched: bool) -> list[anpr_pb2.Frame]:
        """The message's frames, or StreamEnded when the stream must stop at it (`read` messages read
        before it). A batch is taken whole or not at all."""
        kind = "FrameBatch" if batched else "Frame"
        if isinstance(message, MalformedMessage):
            raise StreamEnded(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"message {read + 1} of this stream is not a valid anpr.v1.{kind} ({message.error}); the {read} "
                "before it were read and answered, it and every later message were not read",
            )
        frames: list[anpr_pb2.Frame] = list(message.frames) if batched else [message]  # type: ignore[attr-defined,list-item]
        if len(frames) > self.max_frames_per_message:
            raise StreamEnded(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"message {read + 1} holds {len(frames)} frames, more than {self.max_frames_per_message}; it and "
                f"every later message were not read ({read} read and answered)",
            )
        for frame in frames:
            if frame.camera_id and not grant.permits_camera(frame.camera_id):
                raise StreamEnded(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"identity {grant.identity!r} may not submit frames for camera {frame.camera_id[:128]!r}; "
                    f"message {read + 1} and every later one were not read ({read} read and answered)",
                )
        return frames

    async def StreamFrames(
        self, request_iterator: AsyncIterator[object], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[anpr_pb2.FrameResult]:
        async for results in self._stream(request_iterator, context, batched=False):
            for result in results:
                yield result

    async def StreamFrameBatches(
        self, request_iterator: AsyncIterator[object], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[anpr_pb2.FrameResultBatch]:
        async for results in self._stream(request_iterator, context, batched=True):
            yield anpr_pb2.FrameResultBatch(results=results)

    async def _stream(
        self, request_iterator: AsyncIterator[object], context: grpc.aio.ServicerContext, batched: bool
    ) -> AsyncIterator[list[anpr_pb2.FrameResult]]:
        """One stream of frames (one a message, or batches of them) and its results: one at a time, or
        as many as are ready in one message when `batched`."""
        grant = await self.access.authorise(context, Rpc.STREAM_FRAMES)
        budget_ms = await _metadata_budget_ms(context)
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not ready or draining")
        if len(self._readers) >= self.max_streams:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"this server takes at most {self.max_streams} streams"
            )
        # Bounded by `slots`: one result per unanswered frame (a batch may take its last slots after it
        # was read: at most max_frames_per_message over); None marks the end of the client's input.
        results: asyncio.Queue[anpr_pb2.FrameResult | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self.max_unanswered_per_stream)
        stream = object()
        unanswered = 0
        read_count = 0
        ended: StreamEnded | None = None

        def reply(result: anpr_pb2.FrameResult) -> None:
            results.put_nowait(result)

        half_closed = False

        async def read() -> None:
            nonlocal unanswered, half_closed, read_count, ended
            messages = aiter(request_iterator)
            try:
                while True:
                    # Pacing: a slot is taken before reading, so a stream with too many frames
                    # unanswered is not read and gRPC flow control holds the sender back.
                    # Cancellation (draining) lands on an await where no frame is half-accepted.
                    await slots.acquire()
                    try:
                        frames = self._check(await anext(messages), grant, read_count, batched)
                    except StopAsyncIteration:
                        half_closed = True
                        return
                    except StreamEnded as stop:
                        ended = stop
                        return
                    read_count += 1
                    if not frames:
                        slots.release()
                        continue
                    for _ in frames[1:]:
                        await slots.acquire()
                    unanswered += len(frames)
                    self._intake(frames, reply, stream, budget_ms)
            finally:
                results.put_nowait(None)

        reader = asyncio.create_task(read(), name="stream-reader")
        self._readers.add(reader)
        self.metrics.active_streams.inc()
        reading = True
        try:
            while reading or unanswered:
                ready = [await results.get()]
                while batched and len(ready) < self.max_frames_per_message and not results.empty():
                    ready.append(results.get_nowait())
                answered = [item for item in ready if item is not None]
                if len(answered) < len(ready):
                    reading = False
                if not answered:
                    continue
                unanswered -= len(answered)
                for _ in answered:
                    slots.release()
                yield answered
        finally:
            self._readers.discard(reader)
            self.metrics.active_streams.dec()
            reader.cancel()
            if unanswered:  # the client went away: its waiting frames need no model time
                dropped = self.dispatcher.cancel_stream(stream)
                log.info("stream closed with %d frames unanswered (%d dropped from queues)", unanswered, dropped)
        if ended is not None:
            log.warning("stream ended early with %s after %d messages", ended.code.name, read_count)
            await context.abort(ended.code, ended.details)
        if not half_closed and self.draining:
            # Drained while the client was still sending: say so, so it resends elsewhere what it
            # sent after the last result it got.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down; this stream read no more frames")

    async def SubscribeEvents(
        self, request: anpr_pb2.SubscribeEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[anpr_pb2.VehicleEvent]:
        grant = await self.access.authorise(context, Rpc.SUBSCRIBE_EVENTS)
        await self._refuse_malformed(request, context)
        if self.vehicles is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "passes are off on this server (passes.enabled)")
        assert self.vehicles is not None
        prefixes = tuple(request.camera_prefixes) or grant.camera_prefixes
        outside = [prefix for prefix in prefixes if not grant.permits_prefix(prefix)]
        if outside:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"identity {grant.identity!r} may not see cameras under {outside[0][:128]!r}",
            )
        both = not (request.captures or request.hits)
        hub = self.vehicles.hub
        try:
            subscriber = hub.subscribe(prefixes, request.captures or both, request.hits or both, request.with_images)
        except OverflowError as error:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        self.metrics.event_subscribers.inc()
        try:
            while True:
                if subscriber.overflowed.is_set():
                    self.metrics.event_subscribers_disconnected.inc()
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"this subscriber fell more than {hub.buffer} events behind and was cut off",
                    )
                if subscriber.closed.is_set() and subscriber.queue.empty():
                    return  # the server is shutting down: every event it had is delivered
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), 0.25)
                except TimeoutError:
                    continue
                if isinstance(event, HotlistHit):
                    yield hotlist_hit_message(event, subscriber.with_images)
                else:
                    yield capture_record_message(event, subscriber.with_images)
        finally:
            hub.unsubscribe(subscriber)
            self.metrics.event_subscribers.dec()

    async def Recognize(
        self, request: anpr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> anpr_pb2.RecognizeResponse:
        grant = await self.access.authorise(context, Rpc.RECOGNIZE)
        await self._refuse_malformed(request, context)
        budget_ms = await _metadata_budget_ms(context)
        remaining_s = context.time_remaining()
        if remaining_s is not None:  # the call's own deadline: an answer after it reaches no one
            budget_ms = min(budget_ms or math.inf, remaining_s * 1000.0)
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not ready or draining")
        camera_id = request.frame.camera_id
        if camera_id and not grant.permits_camera(camera_id):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"identity {grant.identity!r} may not submit frames for camera {camera_id[:128]!r}",
            )
        answered: asyncio.Future[anpr_pb2.FrameResult] = asyncio.get_running_loop().create_future()
        stream = object()

        def reply(result: anpr_pb2.FrameResult) -> None:
            if not answered.done():
                answered.set_result(result)

        self._intake([request.frame], reply, stream, budget_ms)
        try:
            return anpr_pb2.RecognizeResponse(result=await answered)
        except asyncio.CancelledError:
            self.dispatcher.cancel_stream(stream)
            raise
