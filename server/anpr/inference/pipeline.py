"""Frames in, plate reads out: letterbox, detect, crop, recognise, decode, check the format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from anpr.config import PipelineSettings
from anpr.vision.crop import crop_plate
from anpr.vision.ctc import decode_ctc
from anpr.vision.detection import DETECTOR_INPUT_HW, decode_detections
from anpr.vision.letterbox import letterbox
from anpr.vision.plate_formats import classify_plate_format


class PlateModels(Protocol):
    """What the pipeline needs from a backend: batched detector and recogniser calls."""

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


def read_plates(models: PlateModels, frames: list[np.ndarray], settings: PipelineSettings) -> list[list[PlateRead]]:
    """Reads every plate in a batch of decoded frames (RGB or grey uint8), one list per frame."""
    if not frames:
        return []
    prepared = [letterbox(frame, DETECTOR_INPUT_HW) for frame in frames]
    boxes, scores = models.detect(np.stack([image for image, _ in prepared]))
    detections = [
        decode_detections(
            boxes[k],
            scores[k],
            transform,
            (frame.shape[1], frame.shape[0]),
            settings.detection_threshold,
            settings.nms_iou,
            settings.max_plates_per_frame,
        )
        for k, (frame, (_, transform)) in enumerate(zip(frames, prepared))
    ]
    crops = [crop_plate(frame, d.box) for frame, found in zip(frames, detections) for d in found]
    probs = models.recognise(np.stack(crops)) if crops else np.zeros((0,))
    reads: list[list[PlateRead]] = []
    cursor = 0
    for found in detections:
        frame_reads = []
        for detection in found:
            plate = decode_ctc(probs[cursor])
            cursor += 1
            if not plate.text:
                continue  # a box with no legible characters is not a plate read
            frame_reads.append(
                PlateRead(
                    plate.text,
                    plate.confidence,
                    plate.char_confidences,
                    detection.box,
                    detection.score,
                    classify_plate_format(plate.text),
                )
            )
        reads.append(frame_reads)
    return reads
