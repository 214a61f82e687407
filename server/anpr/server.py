"""`anpr serve`: the gRPC front end, its backend, and the order things start and stop in.

Start: (local Triton) -> backend -> dispatcher -> access files -> gRPC server (TLS when configured;
health NOT_SERVING; a plaintext health-only port for probes when configured) -> WHIP endpoint (when
enabled) -> readiness watch flips health to SERVING once both models answer.
Stop (SIGTERM/SIGINT): health NOT_SERVING and new calls refused -> WHIP sessions end -> queued frames are processed
for up to `shutdown_grace_s` while frames still arriving are answered DROPPED_OVERLOAD at once; at
the end the rest are answered DROPPED_OVERLOAD too -> open passes close into capture records, event
subscribers get what is queued and end -> streams stop reading, flush their last results and end
(UNAVAILABLE if the client had not half-closed) -> gRPC server stops -> backend closes -> local
Triton stops. SIGHUP reloads the hotlist.

Memory has a stated bound beyond the process's baseline (`memory_bound_bytes`, SECURITY.md): per
open stream (at most `max_streams`) a 64 KiB flow-control window and one message being read, held
twice while it is parsed; the scheduler's `max_queued_bytes` of waiting images; and the batches in
flight, each frame with its encoded and its decoded image. BDP probing, which grew windows until 100
fast writers took 5.6 GB, is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from anpr.api.servicer import PlateRecognitionServicer, add_to_server
from anpr.api.v1 import anpr_pb2
from anpr.config import Settings
from anpr.inference.backend import PlateBackend
from anpr.inference.backends import close_backend, open_backend
from anpr.inference.triton_process import LocalTriton
from anpr.observability import CameraStatsBook, ServerMetrics
from anpr.scheduling.dispatcher import BatchDispatcher
from anpr.security import AccessControl, Rpc
from anpr.security.credentials import ReloadingServerCredentials, metrics_tls_arguments, triton_client_arguments
from anpr.vehicles.service import VehicleEvents

if TYPE_CHECKING:
    from anpr.whip.endpoint import WhipEndpoint

log = logging.getLogger(__name__)

SERVICE_NAME = anpr_pb2.DESCRIPTOR.services_by_name["PlateRecognition"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
LOOPBACK = ("127.0.0.1", "::1", "localhost")
FLOW_CONTROL_WINDOW = 64 * 1024
READINESS_DEADLINE_S = 3.0  # whole readiness check; each Triton call inside has its own 1 s deadline


def transport_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC server options that bound what the transport holds (see the module docstring)."""
    return [
        ("grpc.max_receive_message_length", settings.decode.largest_message_bytes),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams_per_connection),
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", FLOW_CONTROL_WINDOW),
        ("grpc.max_metadata_size", 16 * 1024),
    ]


def memory_bound_bytes(settings: Settings) -> int:
    """The most the server holds for its clients beyond its baseline (the models and libraries)."""
    message = settings.decode.largest_message_bytes
    in_flight = settings.max_batches_in_flight * settings.scheduler.max_batch
    return (
        settings.max_streams * (2 * message + FLOW_CONTROL_WINDOW)
        + settings.scheduler.max_queued_bytes
        + in_flight * (message + settings.decode.max_pixels)
    )


class AuthorisedReflection(reflection.aio.ReflectionServicer):  # type: ignore[name-defined,misc]
    """Server reflection for identities granted it (it lists the API; operators only)."""

    def __init__(self, access: AccessControl, service_names: tuple[str, ...]) -> None:
        super().__init__(service_names)
        self._access = access

    async def ServerReflectionInfo(self, request_iterator, context):  # noqa: N802 (gRPC's name)
        await self._access.authorise(context, Rpc.REFLECTION)
        async for response in super().ServerReflectionInfo(request_iterator, context):
            yield response


class AnprServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port: int | None = None
        self.health_port: int | None = None
        self.local_triton: LocalTriton | None = None
        self.backend: PlateBackend | None = None
        self.dispatcher: BatchDispatcher | None = None
        self.vehicles: VehicleEvents | None = None
        self.servicer: PlateRecognitionServicer | None = None
        self.health = health.aio.HealthServicer()
        self.metrics = ServerMetrics()
        self.cameras = CameraStatsBook()
        self.access = AccessControl(settings.security)
        self.credentials: ReloadingServerCredentials | None = None
        self.metrics_port: int | None = None
        self.whip: WhipEndpoint | None = None  # the WHIP endpoint, when whip.enabled
        self.whip_port: int | None = None
        self._gauges: asyncio.Task[None] | None = None
        self._grpc: grpc.aio.Server | None = None
        self._health_grpc: grpc.aio.Server | None = None
        self._readiness: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._draining = False

    async def start(self) -> int:
        """Starts everything; returns the gRPC port. Health says SERVING once the models are ready."""
        s = self.settings
        self.backend, self.local_triton = await open_backend(
            s.backend,
            s.pipeline,
            s.triton_url,
            s.triton_exit_timeout_s,
            s.triton_timeout_s,
            triton_client_arguments(s.security),
            null_batch_ms=s.null_batch_ms,
        )
        if s.passes.enabled:
            self.vehicles = VehicleEvents(
                s.passes,
                s.hotlist,
                s.events,
                self.metrics,
                self.backend.model_versions,
                quiet_slack_s=s.scheduler.max_frame_age_ms / 1000,  # frames of a camera may still be queued
            )
            await self.vehicles.start()  # a hotlist file that cannot be used fails start-up, with its line
        self.dispatcher = BatchDispatcher(
            self.backend,
            s.pipeline,
            s.scheduler,
            s.max_batches_in_flight,
            s.worker_threads,
            self.metrics,
            observer=self.vehicles,
        )
        self.dispatcher.start()
        self.access.start()
        self.servicer = PlateRecognitionServicer(
            self.dispatcher,
            s.decode,
            s.max_unanswered_per_stream,
            self.metrics,
            self.cameras,
            self.access,
            s.max_camera_id_length,
            s.max_streams,
            self.vehicles,
            s.max_frames_per_message,
        )
        self._grpc = grpc.aio.server(options=transport_options(s))
        add_to_server(self.servicer, self._grpc)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        names = (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(AuthorisedReflection(self.access, names), self._grpc)
        address = f"{s.host}:{s.port}"
        if s.security.tls:
            self.credentials = ReloadingServerCredentials(s.security)
            self.port = self._grpc.add_secure_port(address, self.credentials.credentials())
        else:
            self.port = self._grpc.add_insecure_port(address)
            if s.host not in LOOPBACK:
                log.warning("the gRPC API listens on %s without TLS: set security.tls_cert_file", s.host)
        if s.host not in LOOPBACK and not self.access.enabled:
            log.warning("no access policy or tokens: any client that reaches %s may call everything", s.host)
        await self._set_health(NOT_SERVING)
        await self._grpc.start()
        if s.health_port is not None:
            self._health_grpc = grpc.aio.server(options=[("grpc.max_receive_message_length", 4096)])
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_grpc)
            self.health_port = self._health_grpc.add_insecure_port(f"{s.host}:{s.health_port}")
            await self._health_grpc.start()
        self._readiness = asyncio.create_task(self._watch_readiness(), name="readiness")
        if s.whip.enabled:
            await self._start_whip()
        self.metrics.set_models(self.backend.name, self.backend.model_versions())
        self.metrics_port = self.metrics.serve(s.metrics_host, s.metrics_port, metrics_tls_arguments(s.security))
        self._gauges = asyncio.create_task(self._update_gauges(), name="gauges")
        log.info("memory held for clients is bounded at %.0f MiB", memory_bound_bytes(s) / 2**20)
        log.info(
            "anpr.v1 listening on %s:%d (%s, backend %s, metrics on %s:%d/metrics)",
            s.host,
            self.port,
            "TLS" if s.security.tls else "plaintext",
            self.backend.name,
            s.metrics_host,
            self.metrics_port,
        )
        return self.port

    async def _start_whip(self) -> None:
        """The WHIP endpoint (imported only when enabled: aiortc is a large import)."""
        from anpr.whip.endpoint import WhipEndpoint
        from anpr.whip.sessions import WhipSessions

        s, servicer = self.settings, self.servicer
        assert servicer is not None
        sessions = WhipSessions(s.whip, servicer.intake_video_frame, self.metrics)
        self.whip = WhipEndpoint(sessions, self.access, s.max_camera_id_length, lambda: servicer.accepting)
        tls = None
        if s.security.tls_cert_file and s.security.tls_key_file:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(s.security.tls_cert_file, s.security.tls_key_file)
        elif s.whip.host not in LOOPBACK:
            log.warning("WHIP listens on %s without TLS: bearer tokens cross the network in clear", s.whip.host)
        self.whip_port = await self.whip.start(s.whip.host, s.whip.port, tls)

    async def _set_health(self, status: int) -> None:
        for service in ("", SERVICE_NAME):
            await self.health.set(service, status)

    async def _watch_readiness(self) -> None:
        assert self.backend is not None and self.servicer is not None
        serving = None
        while not self._draining:
            try:
                ready = await asyncio.wait_for(self.backend.ready(), READINESS_DEADLINE_S)
            except TimeoutError:
                ready = False
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
            for batch, seconds in self.dispatcher.learned_batch_seconds().items():
                self.metrics.batch_service_time.labels(batch).set(seconds)
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
        if self.whip:
            await self.whip.stop()  # sessions end: no more video frames
        if self.dispatcher:
            await self.dispatcher.drain(self.settings.shutdown_grace_s)
        if self.vehicles:
            await self.vehicles.stop()  # the passes still open become capture records
            self.vehicles.hub.close()  # subscribers deliver what they hold, then end
        if self.servicer:
            self.servicer.stop_reading()
        if self._grpc:
            await self._grpc.stop(grace=2.0)
        if self._health_grpc:
            await self._health_grpc.stop(grace=0.5)
        await self.access.stop()
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
        if server.vehicles is not None:
            loop.add_signal_handler(signal.SIGHUP, server.vehicles.reload_hotlist)
        await stop.wait()
        log.info("signal received: draining (grace %.1f s)", settings.shutdown_grace_s)
    finally:
        await server.stop()
