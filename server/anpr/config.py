"""Deployment settings: one typed object, from defaults, environment (ANPR_*) and CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SOURCE_MODEL_REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


class PipelineSettings(BaseSettings):
    """How frames become plate reads; shared by the server, `anpr models eval` and benchmarks."""

    model_config = SettingsConfigDict(env_prefix="ANPR_", extra="forbid")

    model_repository: Path = SOURCE_MODEL_REPOSITORY
    detector_version: int = Field(1, ge=1)
    recogniser_version: int = Field(1, ge=1)
    detection_threshold: float = Field(0.35, gt=0, lt=1)
    nms_iou: float = Field(0.4, gt=0, lt=1)
    max_plates_per_frame: int = Field(16, ge=1, le=64)
    onnx_threads: int = Field(1, ge=1, description="intra-op threads per ONNX Runtime session")

    @property
    def detector_path(self) -> Path:
        return self.model_repository / "plate_detector" / str(self.detector_version) / "model.onnx"

    @property
    def recogniser_path(self) -> Path:
        return self.model_repository / "plate_recogniser" / str(self.recogniser_version) / "model.onnx"
