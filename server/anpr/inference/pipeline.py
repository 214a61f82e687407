"""Frames in, plate reads out: letterbox, detect, crop, recognise, decode, check the format.

The CPU steps are plain functions shared by every caller: `read_plates` runs them with a
synchronous backend (evaluation, demo); the server runs the same steps around an async backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from anpr.config import PipelineSettings
from anpr.vision.crop import RECOGNISER_INPUT_HW, crop_plate
from anpr.vision.ctc import PlateText, decode_ctc
from anpr.vision.detection import DETECTOR_INPUT_HW, Detection, decode_detections
from anpr.vision.letterbox import Letterbox, letterbox
from anpr.vision.plate_formats import classify_plate_format, fit_plate_format


class PlateModels(Protocol):
    """A synchronous backend: batched detector and recogniser calls on uint8 inputs."""

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def recognise(self, crops: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PlateRead:
    """One plate read in one frame. `text` is personal data: never log it above DEBUG."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    detection_score: float
    plate_format: str | None  # e.g. "GB"; None when no configured format matches


@dataclass(frozen=True)
class DetectorBatch:
    images: np.ndarray  # (N, 384, 640) uint8
    transforms: list[Letterbox]


def prepare_detector_batch(frames: list[np.ndarray]) -> DetectorBatch:
    images = np.empty((len(frames), *DETECTOR_INPUT_HW), dtype=np.uint8)
    transforms = [letterbox(frame, DETECTOR_INPUT_HW, out=images[k])[1] for k, frame in enumerate(frames)]
    return DetectorBatch(images, transforms)


def detect_and_crop(
    frames: list[np.ndarray], batch: DetectorBatch, boxes: np.ndarray, scores: np.ndarray, settings: PipelineSettings
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
    reads: list[list[PlateRead]] = []
    cursor = 0
    for found in detections:
        frame_reads = []
        for detection in found:
            plate = decode_ctc(probs[cursor])
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


def read_plates(models: PlateModels, frames: list[np.ndarray], settings: PipelineSettings) -> list[list[PlateRead]]:
    """Reads every plate in a batch of decoded frames (RGB or grey uint8), one list per frame."""
    if not frames:
        return []
    batch = prepare_detector_batch(frames)
    boxes, scores = models.detect(batch.images)
    detections, crops = detect_and_crop(frames, batch, boxes, scores, settings)
    probs = models.recognise(crops) if len(crops) else np.zeros((0,))
    return assemble_reads(detections, probs, settings)
