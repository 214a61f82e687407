"""Cutting a plate out of a frame for the recogniser."""

from __future__ import annotations

import cv2
import numpy as np

from anpr.contract import RECOGNISER_INPUT_HW
from anpr.vision.letterbox import to_grey

# Context kept around a detected box: detectors clip corners of tilted plates, and the
# recogniser was trained on exactly this margin, so changing it changes accuracy.
CROP_MARGIN_X = 0.06
CROP_MARGIN_Y = 0.15


def crop_plate(
    frame: np.ndarray,
    box: tuple[float, float, float, float],
    output_hw: tuple[int, int] = RECOGNISER_INPUT_HW,
) -> np.ndarray:
    """Returns the grey uint8 (H, W) recogniser input for one plate box (frame pixels).

    The box is widened by a fixed margin and resampled with an affine map, so parts of the
    margin outside the frame are filled by replicating the border instead of shrinking the crop.
    """
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * CROP_MARGIN_X, (y2 - y1) * CROP_MARGIN_Y
    x1, x2, y1, y2 = x1 - mx, x2 + mx, y1 - my, y2 + my
    out_h, out_w = output_hw
    sx, sy = out_w / max(x2 - x1, 1e-3), out_h / max(y2 - y1, 1e-3)
    grey = to_grey(frame)
    if sx < 1 or sy < 1:
        # Downscaling: pre-blur by resizing the region with INTER_AREA to avoid aliasing.
        ix1, iy1 = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
        ix2, iy2 = min(int(np.ceil(x2)), grey.shape[1]), min(int(np.ceil(y2)), grey.shape[0])
        if ix2 - ix1 >= 2 and iy2 - iy1 >= 2 and x1 >= 0 and y1 >= 0 and x2 <= grey.shape[1] and y2 <= grey.shape[0]:
            return cv2.resize(grey[iy1:iy2, ix1:ix2], (out_w, out_h), interpolation=cv2.INTER_AREA)
    matrix = np.array([[sx, 0, -x1 * sx], [0, sy, -y1 * sy]], dtype=np.float32)
    return cv2.warpAffine(grey, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
