"""Real photographs as training samples: detector frames with their plate boxes, recogniser crops with
their (partly hidden) texts. Only the training part of each set is used (`anpr_synth.real_sets`).

Every photo is decoded as the server decodes it (JPEG luminance) and augmented on the fly, so a few
thousand photos give many different samples: the detector sees each photo at another zoom, position,
mirror, exposure, blur, noise and JPEG quality every time, placed into its 384x640 input as serving's
letterbox would place a frame of that framing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from anpr.contract import DETECTOR_INPUT_HW
from anpr.ingest.decode import decode_encoded
from anpr.vision.letterbox import PAD_VALUE
from anpr_synth.labelled_set import LabelledImage
from anpr_synth.real_sets import TRAIN, real_set_part

log = logging.getLogger(__name__)

MIN_TARGET_WIDTH = 5.0  # input pixels: narrower labelled plates are "don't care" regions, not targets
MIN_VISIBLE = 0.6  # a plate cut by the frame edge stays a target only if this much of it is in view


@dataclass(frozen=True)
class RealPhoto:
    image: np.ndarray  # grey (H, W), as served
    boxes: np.ndarray  # (K, 4) x1, y1, x2, y2 in photo pixels
    name: str


def load_real_photos(directories: tuple[Path, ...], part: str = TRAIN) -> list[RealPhoto]:
    """The boxed photos of `part` of each real set (photos without a boxed plate are kept as negatives)."""
    photos = []
    for directory in directories:
        entries: list[LabelledImage] = real_set_part(directory, part)
        for entry in entries:
            boxes = np.array([p.box for p in entry.plates if p.box is not None], np.float32).reshape(-1, 4)
            photos.append(RealPhoto(decode_encoded(entry.image_path.read_bytes()), boxes, entry.image_path.name))
        log.info("%s: %d %s photos", directory, len(entries), part)
    return photos


def _photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, contrast, blur, sensor noise and JPEG re-compression, each drawn at random."""
    x = image.astype(np.float32) / 255.0
    x = np.clip(x ** rng.uniform(0.6, 1.6), 0, 1)
    x = np.clip((x - 0.5) * rng.uniform(0.6, 1.3) + 0.5 + rng.uniform(-0.15, 0.15), 0, 1)
    out = x * 255.0
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.6))
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(1, 8), out.shape).astype(np.float32)
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.35:
        ok, encoded = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
        out8 = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return out8


def augmented_detector_sample(
    photo: RealPhoto, rng: np.random.Generator, max_boxes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One detector input (384, 640) uint8 made from `photo`, with its plate boxes and "don't care" boxes
    (each (max_boxes, 4) in input pixels, zero rows padding).

    The letterbox scale serving would use is multiplied by a random zoom (0.6-3x, favouring a plate in
    view when zooming in) and sometimes stretched (up to 1.3x), the frame shifted within the input, and
    mirrored half the time.
    """
    in_h, in_w = DETECTOR_INPUT_HW
    h, w = photo.image.shape
    fit = min(in_w / w, in_h / h)
    zoom = float(np.exp(rng.uniform(np.log(0.6), np.log(3.0)))) if rng.random() < 0.75 else 1.0
    # Photos stretched out of their aspect ratio (some exports square every photo): up to 1.3x either way.
    stretch = float(np.exp(rng.uniform(-np.log(1.3), np.log(1.3)))) if rng.random() < 0.4 else 1.0
    scale_x, scale_y = fit * zoom * stretch, fit * zoom / stretch
    box_scale = np.array([scale_x, scale_y, scale_x, scale_y], np.float32)
    new_w, new_h = max(1, round(w * scale_x)), max(1, round(h * scale_y))
    # Where the frame's top-left lands in the input: centred like the letterbox, then shifted; when
    # zoomed in, aim at a random plate so most samples keep one in view.
    if zoom > 1 and len(photo.boxes) and rng.random() < 0.8:
        x1, y1, x2, y2 = photo.boxes[int(rng.integers(len(photo.boxes)))] * box_scale
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ox = in_w / 2 - cx + rng.uniform(-0.4, 0.4) * in_w
        oy = in_h / 2 - cy + rng.uniform(-0.4, 0.4) * in_h
    else:
        ox = (in_w - new_w) / 2 + rng.uniform(-0.5, 0.5) * max(in_w - new_w, 0)
        oy = (in_h - new_h) / 2 + rng.uniform(-0.5, 0.5) * max(in_h - new_h, 0)
    ox, oy = int(round(ox)), int(round(oy))
    interpolation = cv2.INTER_AREA if min(scale_x, scale_y) < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(photo.image, (new_w, new_h), interpolation=interpolation)
    canvas = np.full((in_h, in_w), PAD_VALUE, np.uint8)
    sx1, sy1 = max(0, -ox), max(0, -oy)
    dx1, dy1 = max(0, ox), max(0, oy)
    cw, ch = min(new_w - sx1, in_w - dx1), min(new_h - sy1, in_h - dy1)
    if cw > 0 and ch > 0:
        canvas[dy1 : dy1 + ch, dx1 : dx1 + cw] = resized[sy1 : sy1 + ch, sx1 : sx1 + cw]
    boxes = photo.boxes * box_scale + np.array([ox, oy, ox, oy], np.float32)
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1].copy()
        boxes = np.stack([in_w - boxes[:, 2], boxes[:, 1], in_w - boxes[:, 0], boxes[:, 3]], axis=1)
    canvas = _photometric(canvas, rng)
    targets = np.zeros((max_boxes, 4), np.float32)
    ignore = np.zeros((max_boxes, 4), np.float32)
    kept = skipped = 0
    for box in boxes:
        clipped = np.array([max(box[0], 0), max(box[1], 0), min(box[2], in_w), min(box[3], in_h)], np.float32)
        area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
        visible = max(clipped[2] - clipped[0], 0) * max(clipped[3] - clipped[1], 0)
        if visible <= 0:
            continue
        if visible / max(area, 1e-6) >= MIN_VISIBLE and clipped[2] - clipped[0] >= MIN_TARGET_WIDTH:
            if kept < max_boxes:
                targets[kept] = clipped
                kept += 1
        elif skipped < max_boxes:
            ignore[skipped] = clipped
            skipped += 1
    return canvas, targets, ignore
