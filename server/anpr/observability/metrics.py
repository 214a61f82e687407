"""Prometheus metrics of the front end, in their own registry (one per server, no globals).

Names follow Prometheus conventions: `anpr_` prefix, base units in the name, `_total` counters.
Labels take only small fixed sets of values (status, reason code, stage, model): never a camera id
or plate text (2,300+ series, and personal data). Per-camera detail is in `CameraStatsBook`.
"""

from __future__ import annotations

from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import start_http_server

from anpr.contract import ModelVersion
from anpr.domain import FrameStatus, Reason

# The latency budget is 100 ms per frame: resolve finely below it and coarsely past it.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PASS_FRAME_BUCKETS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 100)
BUDGET_RATIO_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0)
STAGES = ("decode", "queue", "detector", "recogniser", "pipeline", "end_to_end")


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.frames_received = Counter("anpr_frames_received", "Frames read from clients.", registry=r)
        self.frames_answered = Counter(
            "anpr_frames_answered",
            "Frames answered, by status and reason code (every received frame once).",
            ["status", "reason"],
            registry=r,
        )
        self.frames_processed = Counter("anpr_frames_processed", "Frames that went through the models.", registry=r)
        self.plate_reads = Counter("anpr_plate_reads", "Plate reads returned.", registry=r)
        self.active_streams = Gauge("anpr_active_streams", "Open StreamFrames calls.", registry=r)
        self.active_cameras = Gauge("anpr_active_cameras", "Cameras that sent a frame in the last minute.", registry=r)
        self.queued_frames = Gauge("anpr_scheduler_queued_frames", "Frames waiting in the scheduler.", registry=r)
        self.frames_in_flight = Gauge(
            "anpr_frames_in_flight", "Frames taken for a batch and not yet answered.", registry=r
        )
        self.latency_budget = Gauge(
            "anpr_scheduler_latency_budget_seconds",
            "The server's latency budget, receipt to result (0: none; frames may ask for tighter ones).",
            registry=r,
        )
        self.batch_service_time = Gauge(
            "anpr_scheduler_batch_service_seconds",
            "Learned service time (p99 of recent batches, taken to answered) of a batch of one and a full batch.",
            ["batch"],
            registry=r,
        )
        self.budget_used = Histogram(
            "anpr_frame_budget_used_ratio",
            "Processed frames with a latency budget: time spent over the budget, queueing and receipt to result.",
            ["stage"],
            buckets=BUDGET_RATIO_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "anpr_batch_size",
            "Frames (detector) or plates (recogniser) per model call.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            "anpr_stage_latency_seconds",
            "Time per frame in each stage.",
            ["stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.backend_errors = Counter(
            "anpr_backend_errors",
            "Model calls that failed (e.g. Triton unavailable).",
            ["backend", "model"],
            registry=r,
        )
        self.model = Info("anpr_model", "Model versions in use.", ["model"], registry=r)
        # Vehicles: passes (capture records), hotlist hits, event subscribers.
        self.passes_closed = Counter("anpr_passes_closed", "Passes closed into capture records.", registry=r)
        self.passes_discarded = Counter(
            "anpr_passes_discarded", "Passes closed without a capture record (too few frames, unsure).", registry=r
        )
        self.pass_frames = Histogram(
            "anpr_pass_frames", "Frames with a read per closed pass.", buckets=PASS_FRAME_BUCKETS, registry=r
        )
        self.open_passes = Gauge("anpr_open_passes", "Passes open (vehicles being seen).", registry=r)
        self.hotlist_hits = Counter("anpr_hotlist_hits", "Hotlist hits sent, by match kind.", ["match"], registry=r)
        self.hit_latency = Histogram(
            "anpr_hit_latency_seconds",
            "Frame received to hotlist hit published.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.hotlist_entries = Gauge("anpr_hotlist_entries", "Vehicles on the hotlist in use.", registry=r)
        self.hotlist_age = Gauge(
            "anpr_hotlist_age_seconds", "Seconds since the hotlist in use was written (its file's age).", registry=r
        )
        self.hotlist_reload_failures = Counter(
            "anpr_hotlist_reload_failures",
            "Hotlist files that could not be loaded (the previous one stays).",
            registry=r,
        )
        self.event_subscribers = Gauge("anpr_event_subscribers", "Open SubscribeEvents calls.", registry=r)
        self.event_subscribers_disconnected = Counter(
            "anpr_event_subscribers_disconnected",
            "Subscribers cut off because they did not keep up (RESOURCE_EXHAUSTED).",
            registry=r,
        )
        # WHIP (WebRTC ingest): sessions and the frames their video gave.
        self.whip_sessions = Gauge("anpr_whip_sessions", "WHIP sessions open.", registry=r)
        self.whip_sessions_started = Counter("anpr_whip_sessions_started", "WHIP sessions started.", registry=r)
        self.whip_sessions_ended = Counter(
            "anpr_whip_sessions_ended", "WHIP sessions ended, by reason.", ["reason"], registry=r
        )
        self.whip_frames = Counter(
            "anpr_whip_frames",
            "Video frames of WHIP sessions: decoded, and sampled into the scheduler (sample_fps).",
            ["stage"],
            registry=r,
        )
        for stage in ("decoded", "sampled"):
            self.whip_frames.labels(stage)
        for kind in ("EXACT", "LOOKALIKE", "ONE_EDIT"):
            self.hotlist_hits.labels(kind)
        for stage in STAGES:
            self.stage_latency.labels(stage)
        for stage in ("queue", "end_to_end"):
            self.budget_used.labels(stage)
        # Every answered frame updates these: their labelled children, looked up once (a lookup costs
        # as much as the update).
        self._answered: dict[tuple[FrameStatus, Reason | None], Any] = {}
        self._decode_s = self.stage_latency.labels("decode")
        self._queue_s = self.stage_latency.labels("queue")
        self._total_s = self.stage_latency.labels("end_to_end")
        self._queue_used, self._total_used = self.budget_used.labels("queue"), self.budget_used.labels("end_to_end")
        self._http: WSGIServer | None = None

    def set_models(self, backend: str, versions: tuple[ModelVersion, ...]) -> None:
        for model in versions:
            self.model.labels(model.name).info({"version": model.version, "backend": backend})

    def frame_answered(
        self,
        status: FrameStatus,
        code: Reason | None,
        decode_ms: float,
        queue_ms: float,
        total_ms: float,
        reads: int,
        budget_ms: float | None = None,
    ) -> None:
        answered = self._answered.get((status, code))
        if answered is None:  # at most one per status and reason code
            answered = self._answered[status, code] = self.frames_answered.labels(
                status.name, code.value if code else "none"
            )
        answered.inc()
        if status is FrameStatus.PROCESSED:
            self.frames_processed.inc()
            if reads:
                self.plate_reads.inc(reads)
            self._decode_s.observe(decode_ms / 1000)
            self._queue_s.observe(queue_ms / 1000)
            self._total_s.observe(total_ms / 1000)
            if budget_ms:
                self._queue_used.observe(queue_ms / budget_ms)
                self._total_used.observe(total_ms / budget_ms)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int, tls: dict[str, Any] | None = None) -> int:
        """Serves /metrics over HTTP (HTTPS with `tls`: start_http_server's certificate arguments) on a
        thread; returns the port (0 picks a free one)."""
        http, _thread = start_http_server(port, addr=host, registry=self.registry, **(tls or {}))
        self._http = http
        return int(http.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
