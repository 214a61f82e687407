"""Deployment settings: one typed object, validated once, from defaults < TOML file < ANPR_* < flags.

This module only assembles the sections; each is defined beside the code it configures
(`PipelineSettings` with the pipeline, `SchedulerPolicy` with the scheduler, `DecodeLimits` with decoding).

Nested sections use a double underscore in environment variables, e.g.
`ANPR_SCHEDULER__MAX_BATCH=32` or `ANPR_PIPELINE__DETECTION_THRESHOLD=0.4`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from anpr.inference.backends import BackendKind
from anpr.inference.pipeline import PipelineSettings
from anpr.ingest.decode import DecodeLimits
from anpr.scheduling.scheduler import SchedulerPolicy
from anpr.security import SecuritySettings
from anpr.vehicles.hotlist import HotlistSettings
from anpr.vehicles.passes import PassSettings
from anpr.vehicles.service import EventSettings
from anpr.whip.settings import WhipSettings


class Settings(BaseSettings):
    """Everything `anpr serve` can be told."""

    model_config = SettingsConfigDict(env_prefix="ANPR_", env_nested_delimiter="__", extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on; 0.0.0.0 in containers")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    health_port: int | None = Field(
        None, ge=0, le=65535, description="also serve grpc.health.v1 alone here, in plaintext (probes)"
    )
    metrics_host: str = Field("127.0.0.1", description="address of /metrics; 0.0.0.0 for Prometheus in a cluster")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus /metrics port; 0 picks a free one")
    backend: BackendKind = Field("triton", description="null: no models, no plates (measures the front end's own cost)")
    null_batch_ms: float = Field(
        0.0,
        ge=0,
        le=10_000,
        description="with backend null, how long each model call takes, spending no CPU (benchmarks: a GPU's "
        "batch time, so batches form as they would in front of one)",
    )
    triton_url: str | None = Field(None, description="host:port of Triton's gRPC; unset starts a local Triton")
    triton_exit_timeout_s: int = Field(5, ge=1, description="a local Triton's --exit-timeout-secs")
    triton_ready_timeout_s: float = Field(120.0, gt=0, description="how long the demo waits for the models")
    triton_timeout_s: float = Field(5.0, gt=0, description="deadline of one inference call to Triton")
    max_streams: int = Field(100, ge=1, description="open StreamFrames calls; more are RESOURCE_EXHAUSTED")
    max_concurrent_streams_per_connection: int = Field(100, ge=1, description="HTTP/2 streams one connection may open")
    max_camera_id_length: int = Field(128, ge=1, le=1024, description="longer camera ids are INVALID")
    max_frames_per_message: int = Field(256, ge=1, le=4096, description="frames in one StreamFrameBatches message")
    max_batches_in_flight: int = Field(2, ge=1, description="detector batches being processed at once")
    # Large enough that the scheduler, not gRPC flow control, decides what to drop under overload
    # (measured at 2x capacity: p99 3.1 s with 64, 1.3 s with 1,024); memory stays bounded by the
    # scheduler's own limits (camera_queue_depth, max_queued_frames).
    max_unanswered_per_stream: int = Field(1024, ge=1, description="a stream is not read further beyond this")
    worker_threads: int = Field(2, ge=1, description="threads for decoding and pre/post-processing")
    shutdown_grace_s: float = Field(10.0, ge=0, description="time to finish queued frames on SIGTERM")
    pipeline: PipelineSettings = PipelineSettings()
    scheduler: SchedulerPolicy = SchedulerPolicy()
    decode: DecodeLimits = DecodeLimits()
    security: SecuritySettings = SecuritySettings()
    passes: PassSettings = PassSettings()
    hotlist: HotlistSettings = HotlistSettings()
    events: EventSettings = EventSettings()
    whip: WhipSettings = WhipSettings()

    @model_validator(mode="after")
    def _triton_side_preprocessing(self) -> Settings:
        if self.pipeline.preprocessing == "triton":
            if self.backend == "onnxruntime":
                raise ValueError('pipeline.preprocessing "triton" needs the triton backend (or null, to measure)')
            if self.passes.overview_images:
                raise ValueError(
                    'passes.overview_images needs pipeline.preprocessing "front_end": with "triton" the frame\'s '
                    "pixels never reach this process (plate patches come from Triton's pipeline)"
                )
        return self


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Builds the settings; `overrides` (CLI flags) win over ANPR_* variables, which win over the file."""

    class _Settings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
            if config_file is not None:
                sources += (TomlConfigSettingsSource(settings_cls, toml_file=config_file),)
            return sources

    if config_file is not None and not config_file.exists():
        raise FileNotFoundError(f"config file not found: {config_file}")
    return Settings.model_validate(_Settings(**{k: v for k, v in overrides.items() if v is not None}).model_dump())
