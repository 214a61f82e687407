"""Frames in, plate reads out: letterbox, detect, crop, recognise, decode, check the format.

`run_batch` is the one place the five steps are written: the server's dispatcher, `anpr models eval`
and the benchmarks all call it. CPU steps run in the executor given (never on the event loop); model
calls go to any `PlateBackend`. With `preprocessing = "triton"`, `run_encoded_batch` sends the encoded
frames to Triton's `plate_pipeline`, which does the first four steps there (DALI decode and letterbox,
the same box decoding and crops); the reads are made from its output here, by the same code.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from anpr.contract import DETECTOR, DETECTOR_INPUT_HW, RECOGNISER, RECOGNISER_INPUT_HW, ModelSpec, ModelVersion
from anpr.domain import InvalidFrame, PlateRead
from anpr.inference.backend import FramePipeline, FramePlates, PipelineRequest, PlateBackend
from anpr.vision.crop import crop_plate
from anpr.vision.ctc import PlateText, decode_ctc
from anpr.vision.detection import Detection, decode_detections
from anpr.vision.letterbox import Letterbox, letterbox
from anpr.vision.plate_formats import (
    FORMAT_NAMES,
    PlateFormat,
    classify_plate_format,
    enabled_formats,
    fit_plate_format,
)


class PipelineSettings(BaseModel):
    """How frames become plate reads; shared by the server, `anpr models eval` and the benchmarks."""

    model_config = {"extra": "forbid", "frozen": True}

    model_repository: Path = Field(
        Path("model_repository"), description="Triton-layout model folder (relative to the working directory)"
    )
    preprocessing: Literal["front_end", "triton"] = Field(
        "front_end",
        description="where frames are decoded and letterboxed: in this process, or in Triton's plate_pipeline "
        "(DALI; the front end then checks headers only and forwards the bytes: one Triton call per batch)",
    )
    triton_resample: Literal["opencv", "dali"] = Field(
        "opencv",
        description="with preprocessing triton, how the letterbox scales: opencv (the front end's pixels and "
        "reads) or dali (DALI's own filter, what a GPU keeps on the device; reads differ slightly)",
    )
    detector_version: int = Field(3, ge=1)
    recogniser_version: int = Field(3, ge=1)
    detection_threshold: float = Field(0.35, gt=0, lt=1, description="least detector score of a plate read")
    verified_detection_threshold: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="detections scoring from this up to detection_threshold are kept only when their read is "
        "confident (verified_read_confidence) and fits an enabled plate format; equal to detection_threshold: off",
    )
    verified_read_confidence: float = Field(
        0.8, gt=0, le=1, description="least read confidence that verifies a low-scoring detection"
    )
    nms_iou: float = Field(0.4, gt=0, lt=1)
    max_plates_per_frame: int = Field(16, ge=1, le=64)
    onnx_threads: int = Field(1, ge=1, description="intra-op threads per ONNX Runtime session")
    plate_formats: tuple[str, ...] = Field(FORMAT_NAMES, description="formats reads are checked against, in order")
    format_correction: bool = Field(True, description="swap look-alike characters to fit an enabled format")
    format_min_probability: float = Field(
        0.1, gt=0, le=1, description="least recogniser probability of a swapped-in character"
    )
    ctc_blank_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="weight of the recogniser's blank when each output column is decoded; below 1 a faint "
        "character wins over the blank instead of being dropped (boxes read as empty at 1 stay empty), but emblems "
        "between a plate's character groups are read as characters too",
    )
    ctc_split_mass: float = Field(
        0.3,
        ge=0,
        le=1,
        description="also read a character whose probability is split over two or more neighbouring output "
        "columns that each went to the blank, when its summed probability reaches this (reads of 3 or more "
        "characters); 0: off",
    )

    @model_validator(mode="after")
    def _verified_below_outright(self) -> PipelineSettings:
        if self.verified_detection_threshold > self.detection_threshold:
            raise ValueError("verified_detection_threshold must not exceed detection_threshold")
        return self

    @field_validator("plate_formats")
    @classmethod
    def _known_formats(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        enabled_formats(names)
        return names

    @property
    def formats(self) -> tuple[PlateFormat, ...]:
        return enabled_formats(self.plate_formats)

    def version(self, spec: ModelSpec) -> int:
        return self.detector_version if spec is DETECTOR else self.recogniser_version

    def model_versions(self) -> tuple[ModelVersion, ModelVersion]:
        """The (detector, recogniser) versions these settings ask for."""
        return _model_versions(self.detector_version, self.recogniser_version)

    def model_path(self, spec: ModelSpec) -> Path:
        """The ONNX file of the configured version of a model."""
        return self.model_repository / spec.name / str(self.version(spec)) / "model.onnx"

    def pipeline_request(self, with_patches: bool = False) -> PipelineRequest:
        """What the Triton-side pipeline needs of these settings (it keeps detections down to the
        verified threshold; the outright threshold and format checks are applied here, to its output)."""
        return PipelineRequest(
            self.detector_version,
            self.recogniser_version,
            self.verified_detection_threshold,
            self.nms_iou,
            self.max_plates_per_frame,
            self.triton_resample,
            with_patches,
        )

    @property
    def detector_path(self) -> Path:
        return self.model_path(DETECTOR)

    @property
    def recogniser_path(self) -> Path:
        return self.model_path(RECOGNISER)


@functools.lru_cache(maxsize=16)
def _model_versions(detector_version: int, recogniser_version: int) -> tuple[ModelVersion, ModelVersion]:
    # Asked for every frame's answer: made once.
    return ModelVersion(DETECTOR.name, str(detector_version)), ModelVersion(RECOGNISER.name, str(recogniser_version))


@dataclass(frozen=True)
class DetectorBatch:
    images: np.ndarray  # (N, 384, 640) uint8
    transforms: list[Letterbox]


def prepare_detector_batch(frames: Sequence[np.ndarray]) -> DetectorBatch:
    images = np.empty((len(frames), *DETECTOR_INPUT_HW), dtype=np.uint8)
    transforms = [letterbox(frame, DETECTOR_INPUT_HW, out=images[k])[1] for k, frame in enumerate(frames)]
    return DetectorBatch(images, transforms)


def detect_and_crop(
    frames: Sequence[np.ndarray],
    batch: DetectorBatch,
    boxes: np.ndarray,
    scores: np.ndarray,
    settings: PipelineSettings,
) -> tuple[list[list[Detection]], np.ndarray]:
    """Detections per frame and the stacked (M, 32, 128) recogniser crops, in frame order."""
    detections = [
        decode_detections(
            boxes[k],
            scores[k],
            transform,
            (frame.shape[1], frame.shape[0]),
            settings.verified_detection_threshold,  # below detection_threshold, kept only if the read verifies
            settings.nms_iou,
            settings.max_plates_per_frame,
        )
        for k, (frame, transform) in enumerate(zip(frames, batch.transforms))
    ]
    crops = [crop_plate(frame, d.box) for frame, found in zip(frames, detections) for d in found]
    stacked = np.stack(crops) if crops else np.zeros((0, *RECOGNISER_INPUT_HW), np.uint8)
    return detections, stacked


def _verified(plate: PlateText, plate_format: str | None, settings: PipelineSettings) -> bool:
    """Whether the read confirms a detection the detector alone was unsure of: confident, and in a known
    format (signs, phone numbers and other text read confidently too, but rarely fit a plate format)."""
    return plate_format is not None and plate.confidence >= settings.verified_read_confidence


def assemble_reads(
    detections: list[list[Detection]], probs: np.ndarray | None, settings: PipelineSettings
) -> list[list[PlateRead]]:
    """Decodes the recogniser output (one row per detection, in order) into reads per frame."""
    if probs is None:  # no detections in any frame
        return [[] for _ in detections]
    formats = settings.formats
    split_mass = settings.ctc_split_mass or None  # split characters never make an empty read non-empty
    reads: list[list[PlateRead]] = []
    cursor = 0
    for found in detections:
        frame_reads = []
        for detection in found:
            plate = decode_ctc(probs[cursor], split_mass=split_mass)
            if plate.text and settings.ctc_blank_scale != 1.0:
                # Whether the box holds a plate is decided unscaled (scaled, noise boxes read as text too).
                plate = decode_ctc(probs[cursor], settings.ctc_blank_scale, split_mass)
            if settings.format_correction:
                plate, plate_format = fit_plate_format(probs[cursor], plate, formats, settings.format_min_probability)
            else:
                plate_format = classify_plate_format(plate.text, formats)
            cursor += 1
            if not plate.text:
                continue  # a box with no legible characters is not a plate read
            if detection.score < settings.detection_threshold and not _verified(plate, plate_format, settings):
                continue
            frame_reads.append(
                PlateRead(
                    plate.text,
                    plate.confidence,
                    plate.char_confidences,
                    detection.box,
                    detection.score,
                    plate_format,
                )
            )
        reads.append(frame_reads)
    return reads


async def run_batch(
    backend: PlateBackend,
    frames: Sequence[np.ndarray],
    settings: PipelineSettings,
    executor: Executor | None = None,
) -> list[list[PlateRead]]:
    """Reads every plate in a batch of decoded grey frames, one list per frame, in frame order."""
    if not frames:
        return []
    loop = asyncio.get_running_loop()
    batch = await loop.run_in_executor(executor, prepare_detector_batch, frames)
    boxes, scores = await backend.detect(batch.images)
    detections, crops = await loop.run_in_executor(executor, detect_and_crop, frames, batch, boxes, scores, settings)
    probs = await backend.recognise(crops) if len(crops) else None
    return await loop.run_in_executor(executor, assemble_reads, detections, probs, settings)


@dataclass(frozen=True)
class EncodedFrameReads:
    """One encoded frame's reads from the Triton-side pipeline (and each read's plate patch, when asked
    for), or why it could not be decoded there."""

    reads: list[PlateRead]
    patches: tuple[bytes, ...] = ()
    invalid: InvalidFrame | None = None


def _encoded_reads(results: list[FramePlates], settings: PipelineSettings) -> list[EncodedFrameReads]:
    decoded = [result for result in results if result.invalid is None]
    probs = [result.probs for result in decoded if len(result.probs)]
    reads = iter(assemble_reads([r.detections for r in decoded], np.concatenate(probs) if probs else None, settings))
    out = []
    for result in results:
        if result.invalid is not None:
            out.append(EncodedFrameReads([], invalid=result.invalid))
            continue
        frame_reads = next(reads)
        patch_of = {detection.box: patch for detection, patch in zip(result.detections, result.patches)}
        patches = tuple(patch_of[read.box] for read in frame_reads if read.box in patch_of)
        out.append(EncodedFrameReads(frame_reads, patches))
    return out


async def run_encoded_batch(
    backend: FramePipeline,
    frames: Sequence[bytes],
    settings: PipelineSettings,
    executor: Executor | None = None,
    with_patches: bool = False,
) -> list[EncodedFrameReads]:
    """Reads every plate in a batch of encoded frames in one call to the Triton-side pipeline."""
    if not frames:
        return []
    results = await backend.read_encoded(frames, settings.pipeline_request(with_patches))
    return await asyncio.get_running_loop().run_in_executor(executor, _encoded_reads, results, settings)
