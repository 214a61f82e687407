"""Detector training targets: Gaussian centre heatmaps and per-cell box regression targets."""

from __future__ import annotations

import numpy as np

from anpr_training.models import DETECTOR_STRIDE, HEIGHT_UNIT, WIDTH_UNIT

REGRESSION_MIN_HEAT = 0.5  # cells this close to a plate centre learn its box


DONT_CARE_HEAT = 0.99  # below 1 (not a positive), close enough that the focal loss ignores the cell


def detector_targets(
    boxes: np.ndarray, grid_hw: tuple[int, int], ignore: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets for one image.

    Args:
        boxes: (B, 4) x1y1x2y2 in input pixels; all-zero rows are padding.
        ignore: (B, 4) "don't care" boxes (plates too small or too cut off to learn from): neither
            positives nor negatives.
    Returns:
        heat (H, W) in [0, 1] with exactly 1 at each plate's centre cell;
        regression (4, H, W): centre offset x, y (in cells) and log width/height units;
        weight (H, W): 1 where a cell regresses a box.
    """
    gh, gw = grid_hw
    heat = np.zeros((gh, gw), dtype=np.float32)
    regression = np.zeros((4, gh, gw), dtype=np.float32)
    weight = np.zeros((gh, gw), dtype=np.float32)
    if ignore is not None:
        for x1, y1, x2, y2 in ignore[(ignore[:, 2] > ignore[:, 0]) & (ignore[:, 3] > ignore[:, 1])]:
            cx1, cy1 = int(x1 // DETECTOR_STRIDE), int(y1 // DETECTOR_STRIDE)
            cx2, cy2 = int(np.ceil(x2 / DETECTOR_STRIDE)), int(np.ceil(y2 / DETECTOR_STRIDE))
            heat[max(cy1, 0) : min(cy2, gh), max(cx1, 0) : min(cx2, gw)] = DONT_CARE_HEAT
    valid = boxes[(boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)]
    if len(valid) == 0:
        return heat, regression, weight
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    per_box = []
    for x1, y1, x2, y2 in valid:
        cx, cy = (x1 + x2) / 2 / DETECTOR_STRIDE, (y1 + y2) / 2 / DETECTOR_STRIDE
        sx = max((x2 - x1) / DETECTOR_STRIDE / 6, 0.4)
        sy = max((y2 - y1) / DETECTOR_STRIDE / 6, 0.4)
        g = np.exp(-((gx + 0.5 - cx) ** 2 / (2 * sx**2) + (gy + 0.5 - cy) ** 2 / (2 * sy**2)))
        ci, cj = int(np.clip(np.floor(cy), 0, gh - 1)), int(np.clip(np.floor(cx), 0, gw - 1))
        g[ci, cj] = 1.0
        per_box.append(g)
    stack = np.stack(per_box)
    plate_heat = stack.max(axis=0)
    heat = np.where(plate_heat >= 1.0, 1.0, np.maximum(plate_heat, heat))  # `heat` holds the don't-care cells
    owner = stack.argmax(axis=0)
    x1, y1, x2, y2 = (valid[owner][..., k] for k in range(4))
    regression[0] = (x1 + x2) / 2 / DETECTOR_STRIDE - gx
    regression[1] = (y1 + y2) / 2 / DETECTOR_STRIDE - gy
    regression[2] = np.log(np.maximum(x2 - x1, 1) / WIDTH_UNIT)
    regression[3] = np.log(np.maximum(y2 - y1, 1) / HEIGHT_UNIT)
    weight[plate_heat >= REGRESSION_MIN_HEAT] = 1.0
    return heat, regression, weight
