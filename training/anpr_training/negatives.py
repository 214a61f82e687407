"""Hard negatives for the recogniser: what a detector boxes in real training photos where no plate is.

The pipeline drops a box the recogniser reads as nothing, so the recogniser is the detector's second
filter; trained on plates only, it never learns to read a grille, a light or a sticker as nothing.
These are the boxes a shipped detector finds (at the pipeline's lowest kept score) in the training
part of real photo sets, away from every labelled plate, to be read as empty. Only sets whose visible
plates are all boxed may be used: an unlabelled plate mined here would teach the recogniser to miss
plates (the Romanian dashcam set leaves parked and distant cars' plates unboxed; see its data card).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from anpr.contract import DETECTOR_INPUT_HW
from anpr.inference.pipeline import PipelineSettings
from anpr.vision.detection import decode_detections
from anpr.vision.letterbox import letterbox
from anpr_training.datasets import encode_labels
from anpr_training.real_data import load_real_photos

log = logging.getLogger(__name__)

CLEARANCE = 0.5  # a labelled box grown by this much of its size on each side: nothing near it is a negative


def _clear_of(box: tuple[float, float, float, float], labelled: np.ndarray) -> bool:
    x1, y1, x2, y2 = box
    for lx1, ly1, lx2, ly2 in labelled:
        mx, my = CLEARANCE * (lx2 - lx1), CLEARANCE * (ly2 - ly1)
        if x1 < lx2 + mx and x2 > lx1 - mx and y1 < ly2 + my and y2 > ly1 - my:
            return False
    return True


def hard_negatives(
    directories: tuple[Path, ...], detector: Path
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """The detector's boxes clear of every labelled plate in the training part of `directories`, as
    (grey images, one per box; boxes (N, 4) x1, y1, x2, y2; targets (N, MAX_PLATE_CHARS) all 0;
    lengths (N,) all 0): the format of `datasets.real_crops`, an empty read as the label."""
    session = ort.InferenceSession(str(detector), providers=["CPUExecutionProvider"])
    serving = PipelineSettings()  # the lowest score the pipeline may keep a box at, and its suppression
    lowest, nms_iou = serving.verified_detection_threshold, serving.nms_iou
    images, boxes = [], []
    for photo in load_real_photos(directories):
        pixels, transform = letterbox(photo.image, DETECTOR_INPUT_HW)
        found_boxes, scores = session.run(["boxes", "scores"], {"images": pixels[None, None]})
        h, w = photo.image.shape
        for detection in decode_detections(found_boxes[0], scores[0], transform, (w, h), lowest, nms_iou):
            if _clear_of(detection.box, photo.boxes):
                images.append(photo.image)
                boxes.append(detection.box)
    log.info("%d hard negatives from %s", len(boxes), ", ".join(str(d) for d in directories))
    targets, lengths = encode_labels([""] * len(boxes))
    return images, np.array(boxes, np.float32).reshape(-1, 4), targets, lengths
