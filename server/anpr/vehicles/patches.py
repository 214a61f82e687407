"""The images a capture record carries: a plate patch within the UK national ANPR limits (about
120x60 px, 3 KB) and, when asked for, a small overview of the frame (at most 25 KB). Made in worker
threads, from the grey pixels the models read."""

from __future__ import annotations

import cv2
import numpy as np

from anpr.domain import PlateRead
from anpr.vehicles.records import ReadImages

PATCH_SIZE = (120, 60)  # width, height: the patch fits inside, keeping the plate's shape
PATCH_MAX_BYTES = 3 * 1024
OVERVIEW_WIDTH = 320
OVERVIEW_MAX_BYTES = 25 * 1024
MARGIN = 0.15  # of the box, around it


def _jpeg_within(image: np.ndarray, max_bytes: int) -> bytes:
    """The image as a JPEG of at most `max_bytes`, at the best quality that fits (smaller if none does)."""
    for quality in (85, 70, 55, 40, 25, 10):
        encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        if len(encoded) <= max_bytes:
            return encoded
    half = cv2.resize(image, (max(1, image.shape[1] // 2), max(1, image.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    return _jpeg_within(half, max_bytes)


def plate_patch(frame: np.ndarray, box: tuple[float, float, float, float]) -> bytes:
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    crop = frame[top:bottom, left:right]
    if crop.size == 0:
        crop = np.zeros((1, 1), np.uint8)
    scale = min(PATCH_SIZE[0] / crop.shape[1], PATCH_SIZE[1] / crop.shape[0])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    patch = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return _jpeg_within(patch, PATCH_MAX_BYTES)


def overview(frame: np.ndarray) -> bytes:
    scale = min(1.0, OVERVIEW_WIDTH / frame.shape[1])
    small = cv2.resize(frame, (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))))
    return _jpeg_within(small, OVERVIEW_MAX_BYTES)


def read_images(frame: np.ndarray, reads: list[PlateRead], with_overview: bool) -> tuple[ReadImages, ...]:
    """The images of each read of one frame (the overview, when asked for, is shared)."""
    if not reads:
        return ()
    shared = overview(frame) if with_overview else None
    return tuple(ReadImages(plate_patch(frame, read.box), shared) for read in reads)
