"""Turning the detector's dense output into plate boxes in frame pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anpr.vision.letterbox import Letterbox
from anpr.vision.nms import nms


@dataclass(frozen=True)
class Detection:
    """One plate found in a frame: box in frame pixels (x1, y1, x2, y2) and score in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float


def decode_detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    transform: Letterbox,
    frame_wh: tuple[int, int],
    score_threshold: float,
    iou_threshold: float,
    max_detections: int = 32,
) -> list[Detection]:
    """Thresholds, suppresses and maps back one frame's detector output.

    Args:
        boxes: (K, 4) candidate boxes in model-input pixels, one per output cell.
        scores: (K,) plate probabilities.
        transform: the letterbox that produced the model input.
        frame_wh: the original frame's (width, height), to clip boxes.
    """
    candidates = np.flatnonzero(scores >= score_threshold)
    if candidates.size == 0:
        return []
    kept = candidates[nms(boxes[candidates], scores[candidates], iou_threshold)][:max_detections]
    frame_boxes = transform.to_frame(boxes[kept])
    w, h = frame_wh
    frame_boxes[:, [0, 2]] = np.clip(frame_boxes[:, [0, 2]], 0, w)
    frame_boxes[:, [1, 3]] = np.clip(frame_boxes[:, [1, 3]], 0, h)
    detections = []
    for box, score in zip(frame_boxes, scores[kept]):
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            x1, y1, x2, y2 = (float(v) for v in box)
            detections.append(Detection(box=(x1, y1, x2, y2), score=float(score)))
    return detections
