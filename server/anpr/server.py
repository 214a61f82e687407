"""`anpr serve`: the gRPC front end, its backend, and the order things start and stop in.

Start: (local Triton) -> backend -> dispatcher -> gRPC server (health NOT_SERVING) -> readiness
watch flips health to SERVING once both models answer.
Stop (SIGTERM/SIGINT): health NOT_SERVING and new calls refused -> queued frames are processed
for up to `shutdown_grace_s` while frames still arriving are answered DROPPED_OVERLOAD at once; at
the end the rest are answered DROPPED_OVERLOAD too -> streams stop reading, flush their last results
and end (UNAVAILABLE if the client had not half-closed) -> gRPC server stops -> backend closes ->
local Triton stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from anpr.api.servicer import PlateRecognitionServicer
from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.config import Settings
from anpr.inference.backend import PlateBackend
from anpr.inference.backends import close_backend, open_backend
from anpr.inference.triton_process import LocalTriton
from anpr.observability import CameraStatsBook, ServerMetrics
from anpr.scheduling.dispatcher import BatchDispatcher

log = logging.getLogger(__name__)

SERVICE_NAME = anpr_pb2.DESCRIPTOR.services_by_name["PlateRecognition"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class AnprServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port: int | None = None
        self.local_triton: LocalTriton | None = None
        self.backend: PlateBackend | None = None
        self.dispatcher: BatchDispatcher | None = None
        self.servicer: PlateRecognitionServicer | None = None
        self.health = health.aio.HealthServicer()
        self.metrics = ServerMetrics()
        self.cameras = CameraStatsBook()
        self.metrics_port: int | None = None
        self._gauges: asyncio.Task[None] | None = None
        self._grpc: grpc.aio.Server | None = None
        self._readiness: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._draining = False

    async def start(self) -> int:
        """Starts everything; returns the gRPC port. Health says SERVING once the models are ready."""
        s = self.settings
        self.backend, self.local_triton = await open_backend(
            s.backend, s.pipeline, s.triton_url, s.triton_exit_timeout_s
        )
        self.dispatcher = BatchDispatcher(
            self.backend, s.pipeline, s.scheduler, s.max_batches_in_flight, s.worker_threads, self.metrics
        )
        self.dispatcher.start()
        self.servicer = PlateRecognitionServicer(
            self.dispatcher, s.decode, s.max_unanswered_per_stream, self.metrics, self.cameras
        )
        largest_frame = max(s.decode.max_encoded_bytes, s.decode.max_pixels * 3) + 64 * 1024
        self._grpc = grpc.aio.server(options=[("grpc.max_receive_message_length", largest_frame)])
        anpr_pb2_grpc.add_PlateRecognitionServicer_to_server(self.servicer, self._grpc)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self._grpc,
        )
        self.port = self._grpc.add_insecure_port(f"{s.host}:{s.port}")
        await self._set_health(NOT_SERVING)
        await self._grpc.start()
        self._readiness = asyncio.create_task(self._watch_readiness(), name="readiness")
        self.metrics.set_models(self.backend.name, self.backend.model_versions())
        self.metrics_port = self.metrics.serve(s.host, s.metrics_port)
        self._gauges = asyncio.create_task(self._update_gauges(), name="gauges")
        log.info(
            "anpr.v1 listening on %s:%d (backend %s, metrics on :%d/metrics)",
            s.host,
            self.port,
            self.backend.name,
            self.metrics_port,
        )
        return self.port

    async def _set_health(self, status: int) -> None:
        for service in ("", SERVICE_NAME):
            await self.health.set(service, status)

    async def _watch_readiness(self) -> None:
        assert self.backend is not None and self.servicer is not None
        serving = None
        while not self._draining:
            ready = await self.backend.ready()
            if ready != serving:
                serving = ready
                self.servicer.accepting = ready
                await self._set_health(SERVING if ready else NOT_SERVING)
                log.info("models %s", "ready: SERVING" if ready else "not ready: NOT_SERVING")
                (self._ready.set if ready else self._ready.clear)()
            await asyncio.sleep(0.5 if ready else 0.2)

    async def _update_gauges(self) -> None:
        assert self.dispatcher is not None
        while True:
            self.metrics.queued_frames.set(self.dispatcher.scheduler.queued)
            self.metrics.frames_in_flight.set(self.dispatcher.frames_in_flight)
            self.metrics.active_cameras.set(self.cameras.active())
            await asyncio.sleep(1.0)

    async def wait_until_ready(self, timeout_s: float) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout_s)

    async def stop(self) -> None:
        """Drains and stops in the order given in the module docstring."""
        if self._draining:
            return
        self._draining = True
        started = time.monotonic()
        if self._readiness:
            self._readiness.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._readiness
        await self._set_health(NOT_SERVING)
        if self.servicer:
            self.servicer.accepting = False
        if self.dispatcher:
            await self.dispatcher.drain(self.settings.shutdown_grace_s)
        if self.servicer:
            self.servicer.stop_reading()
        if self._grpc:
            await self._grpc.stop(grace=2.0)
        if self.backend:
            await close_backend(self.backend, self.local_triton)
        if self._gauges:
            self._gauges.cancel()
        self.metrics.close()
        log.info("stopped in %.1f s", time.monotonic() - started)


async def serve(settings: Settings) -> None:
    """Runs until SIGTERM or SIGINT, then drains."""
    server = AnprServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        await stop.wait()
        log.info("signal received: draining (grace %.1f s)", settings.shutdown_grace_s)
    finally:
        await server.stop()
