"""Letterboxing: fit a frame into the detector's fixed input without distorting it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # the grey used by YOLO-family detectors; neutral for a grey input


@dataclass(frozen=True)
class Letterbox:
    """How a frame was scaled and padded into the model input, to map boxes back."""

    scale: float
    pad_x: float
    pad_y: float

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Maps (x1, y1, x2, y2) boxes from model-input pixels back to frame pixels."""
        out = boxes.astype(np.float32, copy=True)
        out[..., [0, 2]] = (out[..., [0, 2]] - self.pad_x) / self.scale
        out[..., [1, 3]] = (out[..., [1, 3]] - self.pad_y) / self.scale
        return out

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Maps (x1, y1, x2, y2) boxes from frame pixels to model-input pixels."""
        out = boxes.astype(np.float32, copy=True)
        out[..., [0, 2]] = out[..., [0, 2]] * self.scale + self.pad_x
        out[..., [1, 3]] = out[..., [1, 3]] * self.scale + self.pad_y
        return out


def to_grey(image: np.ndarray) -> np.ndarray:
    """Returns a single-channel uint8 view of an RGB or grey frame."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def letterbox_geometry(width: int, height: int, input_hw: tuple[int, int]) -> tuple[tuple[int, int], Letterbox]:
    """Where a width x height frame goes in `input_hw`: its scaled (width, height), and the transform.
    The one definition of the geometry, for the front end's letterbox and Triton's (DALI) alike."""
    in_h, in_w = input_hw
    scale = min(in_w / width, in_h / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    return (new_w, new_h), Letterbox(scale=new_w / width, pad_x=float(pad_x), pad_y=float(pad_y))


def letterbox(
    image: np.ndarray, input_hw: tuple[int, int], out: np.ndarray | None = None
) -> tuple[np.ndarray, Letterbox]:
    """Scales a frame (RGB or grey, uint8) to fit `input_hw`, centred, padded with grey.

    Returns the grey uint8 (H, W) input and the transform that maps boxes back. `out`, if given, is
    the (H, W) uint8 array to write into (a slot of a batch), saving a copy.
    """
    grey = to_grey(image)
    in_h, in_w = input_hw
    h, w = grey.shape
    (new_w, new_h), transform = letterbox_geometry(w, h, input_hw)
    interpolation = cv2.INTER_AREA if min(in_w / w, in_h / h) < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(grey, (new_w, new_h), interpolation=interpolation)
    pad_x, pad_y = int(transform.pad_x), int(transform.pad_y)
    if out is None:
        out = np.empty((in_h, in_w), dtype=np.uint8)
    out[:pad_y] = PAD_VALUE
    out[pad_y + new_h :] = PAD_VALUE
    out[pad_y : pad_y + new_h, :pad_x] = PAD_VALUE
    out[pad_y : pad_y + new_h, pad_x + new_w :] = PAD_VALUE
    out[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return out, transform
