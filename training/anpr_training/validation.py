"""Checks during training, on held-out real photographs: how the detector alone does (its boxes at the
serving thresholds, before any read), so a run's progress on real data is visible while it trains."""

from __future__ import annotations

import numpy as np
import torch

from anpr.contract import DETECTOR_INPUT_HW
from anpr.vision.detection import decode_detections
from anpr.vision.letterbox import letterbox
from anpr.vision.nms import box_iou
from anpr_training.models import PlateDetector, decode_detector_maps, unit_scaled
from anpr_training.real_data import RealPhoto

SCORE_THRESHOLD = 0.35  # the serving default (`pipeline.detection_threshold`)
NMS_IOU = 0.4
MATCH_IOU = 0.5


def detector_recall_precision(
    model: PlateDetector, photos: list[RealPhoto], min_width: float = 0.0, batch: int = 8
) -> dict[str, float]:
    """Recall and precision of the detector's boxes (score >= 0.35, IoU >= 0.5) on labelled photos;
    labelled plates narrower than `min_width` photo pixels count neither way."""
    model.eval()
    found = plates = correct = detections = 0
    with torch.no_grad():
        for start in range(0, len(photos), batch):
            chunk = photos[start : start + batch]
            inputs = [letterbox(p.image, DETECTOR_INPUT_HW) for p in chunk]
            x = unit_scaled(torch.from_numpy(np.stack([i for i, _ in inputs])))[:, None]
            boxes, scores = decode_detector_maps(model(x))
            for photo, (_, transform), b, s in zip(chunk, inputs, boxes.numpy(), scores.numpy()):
                h, w = photo.image.shape
                kept = decode_detections(b, s, transform, (w, h), SCORE_THRESHOLD, NMS_IOU)
                predicted = np.array([d.box for d in kept], np.float32).reshape(-1, 4)
                wide = (photo.boxes[:, 2] - photo.boxes[:, 0]) >= min_width
                iou = box_iou(photo.boxes, predicted) if len(photo.boxes) and len(predicted) else None
                plates += int(wide.sum())
                if iou is None:
                    detections += len(predicted)
                    continue
                found += int((iou[wide].max(axis=1) >= MATCH_IOU).sum()) if wide.any() else 0
                matched_small = (
                    (iou[~wide] >= MATCH_IOU).any(axis=0) if (~wide).any() else np.zeros(len(predicted), bool)
                )
                detections += int((~matched_small).sum())
                correct += int(((iou[wide] >= MATCH_IOU).any(axis=0) & ~matched_small).sum()) if wide.any() else 0
    model.train()
    return {
        "recall": found / plates if plates else 1.0,
        "precision": correct / detections if detections else 1.0,
        "plates": plates,
    }
