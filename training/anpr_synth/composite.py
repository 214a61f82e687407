"""Rendered plates of known text put into real photographs, in place of the real plates.

A real plate's box tells where a plate sits, how large and how it is tilted (estimated from the
bright plate blob inside the box); its pixels tell how the camera saw it: light level and contrast,
blur, sensor noise, and the photo's JPEG quality. A new plate is rendered, warped onto the real one
and matched in each of those, so the recogniser learns real optics and real surroundings with exact
labels (the real sets have none, or hide characters). Everything is grey, as the server decodes it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from anpr.ingest.decode import decode_encoded
from anpr.vision.crop import crop_plate
from anpr_synth.plate_render import render_plate
from anpr_synth.plate_text import PlateLayout, choose_layout, plate_label
from anpr_synth.scene import jittered_box

# Photo pixels: narrower real plates are left as they are. A plate composited at ~20 px is a blur no
# one could read, which teaches a recogniser nothing but guessing.
MIN_COMPOSITE_WIDTH = 40.0
MIN_CONTRAST = 40.0  # grey levels between a real plate's characters and its background to copy its light
MAX_BLUR_PER_PLATE_HEIGHT = 0.06  # blur copied from the real plate is capped where characters would merge
# libjpeg's standard luminance quantisation table (quality 50), row-major.
STANDARD_LUMINANCE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29,
     51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120,
     101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


@dataclass(frozen=True)
class CompositePlate:
    text: str
    layout: str
    box: tuple[float, float, float, float]  # the real plate's box (x1, y1, x2, y2): where the new one is
    quad: np.ndarray  # (4, 2) TL, TR, BR, BL corners the new plate was warped onto


@dataclass
class CompositePhoto:
    image: np.ndarray  # grey, as the server decodes it (after the photo's own JPEG quality)
    plates: list[CompositePlate]  # the replaced plates (with text); plates left as they were are not here


def jpeg_quality(data: bytes) -> int:
    """The libjpeg quality a JPEG was saved at, estimated from its luminance table (75 if unknown)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            tables = getattr(image, "quantization", None) or {}
    except OSError:
        return 75
    if 0 not in tables:
        return 75
    table = np.asarray(tables[0], dtype=np.float64)[:64]
    scale = float(np.mean(table / STANDARD_LUMINANCE) * 100)
    quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
    return int(np.clip(round(quality), 10, 100))


def plate_quad(photo: np.ndarray, box: tuple[float, float, float, float], aspect: float) -> np.ndarray:
    """Corners of the real plate inside its box: the rotated rectangle of the bright blob the box
    centres on when that blob looks like a plate, else the box itself (an axis-aligned plate)."""
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
    ix1, iy1 = max(int(x1), 0), max(int(y1), 0)
    ix2, iy2 = min(int(np.ceil(x2)), photo.shape[1]), min(int(np.ceil(y2)), photo.shape[0])
    region = photo[iy1:iy2, ix1:ix2]
    if region.size < 64 or x2 - x1 < 20:
        return corners
    _, bright = cv2.threshold(cv2.GaussianBlur(region, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright)
    if count < 2:
        return corners
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    points = np.column_stack(np.nonzero(labels == largest)[::-1]).astype(np.float32)
    (cx, cy), (w, h), angle = cv2.minAreaRect(points)
    if w < h:
        w, h, angle = h, w, angle + 90
    fill = stats[largest, cv2.CC_STAT_AREA] / max(region.shape[0] * region.shape[1], 1)
    if fill < 0.35 or not 1.5 <= w / max(h, 1e-3) <= 7.0 or abs(((angle + 90) % 180) - 90) > 25:
        return corners
    quad = cv2.boxPoints(((cx + ix1, cy + iy1), (w * 1.04, h * 1.08), angle)).astype(np.float32)
    # boxPoints order varies with the angle: sort to TL, TR, BR, BL.
    centre = quad.mean(axis=0)
    order = np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))
    quad = quad[order]  # clockwise from the left-most top corner in image coordinates
    start = int(np.argmin(quad[:, 0] + quad[:, 1]))
    return np.roll(quad, -start, axis=0)


def _levels(region: np.ndarray) -> tuple[float, float]:
    """(dark, bright) levels of a plate: its characters and its background."""
    return float(np.percentile(region, 6)), float(np.percentile(region, 92))


def _sharpness(region: np.ndarray, inside: np.ndarray, dark: float, bright: float) -> float:
    """Steepness of the strongest edges within the plate, relative to its contrast: 1 is a one-pixel
    step, less is blurred."""
    gradient = cv2.magnitude(
        cv2.Sobel(region.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3),
        cv2.Sobel(region.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3),
    )
    values = gradient[inside > 0] if inside.any() else gradient.ravel()
    return float(np.percentile(values, 95)) / max((bright - dark) * 4.0, 1.0)


def _noise_sigma(region: np.ndarray) -> float:
    """Sensor noise: median absolute deviation of what a 3x3 median filter takes away."""
    residual = region.astype(np.float32) - cv2.medianBlur(region, 3).astype(np.float32)
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


def _warp_grey(plate_rgba: np.ndarray, quad: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The plate in grey (JPEG luminance weights) and its alpha, warped onto `quad` in a frame of `shape`."""
    h, w = plate_rgba.shape[:2]
    grey = cv2.cvtColor(np.ascontiguousarray(plate_rgba[:, :, :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, quad.astype(np.float32))
    size = (shape[1], shape[0])
    warped = cv2.warpPerspective(grey, matrix, size, flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(plate_rgba[:, :, 3].astype(np.float32) / 255.0, matrix, size, flags=cv2.INTER_AREA)
    return warped, alpha


def replace_plate(
    photo: np.ndarray, box: tuple[float, float, float, float], layout: PlateLayout, rng: np.random.Generator
) -> tuple[np.ndarray, CompositePlate]:
    """`photo` (grey float32, modified in place) with the plate in `box` replaced by a new one of
    `layout`, matched to the real one's light, contrast, blur and noise."""
    display = layout.text(rng)
    quad = plate_quad(photo.astype(np.uint8), box, layout.aspect)
    x1, y1, x2, y2 = (
        int(v) for v in (quad[:, 0].min() - 6, quad[:, 1].min() - 6, quad[:, 0].max() + 7, quad[:, 1].max() + 7)
    )
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, photo.shape[1]), min(y2, photo.shape[0])
    window = photo[y1:y2, x1:x2]
    local_quad = quad - np.array([x1, y1], np.float32)
    real = window.astype(np.uint8)
    inside = np.zeros(real.shape, np.uint8)
    cv2.fillConvexPoly(inside, local_quad.astype(np.int32), 1)
    pixels = real[inside > 0] if inside.any() else real.ravel()
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8))  # edges of the plate itself, not of the car
    dark, bright = _levels(pixels)
    if bright - dark < MIN_CONTRAST:  # a washed-out or dark plate: keep enough contrast to be read
        middle = float(np.clip((dark + bright) / 2, MIN_CONTRAST, 255 - MIN_CONTRAST))
        dark, bright = middle - MIN_CONTRAST, middle + MIN_CONTRAST
    plate = render_plate(layout, display, rng)
    warped, alpha = _warp_grey(plate, local_quad, real.shape)
    ink_level, paper_level = _levels(warped[alpha > 0.9]) if (alpha > 0.9).any() else (0.0, 255.0)
    gain = (bright - dark) / max(paper_level - ink_level, 1.0) * rng.uniform(0.85, 1.1)
    matched = np.clip((warped - ink_level) * gain + dark, 0, 255)
    composed = window * (1 - alpha) + matched * alpha
    # Blur: as steep as the real plate's edges, found by trying a few strengths on the new plate.
    target = _sharpness(real, inside, dark, bright)
    best, best_error = composed, abs(_sharpness(composed.astype(np.uint8), inside, dark, bright) - target)
    plate_h = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    for sigma in (s for s in (0.5, 0.8, 1.1, 1.5, 2.0, 2.7) if s <= max(0.5, MAX_BLUR_PER_PLATE_HEIGHT * plate_h)):
        blurred = cv2.GaussianBlur(composed, (0, 0), sigma)
        error = abs(_sharpness(blurred.astype(np.uint8), inside, dark, bright) - target)
        if error < best_error:
            best, best_error = blurred, error
    feather = cv2.GaussianBlur(np.clip(alpha * 1.5, 0, 1), (0, 0), 1.0)
    noise = rng.normal(0, _noise_sigma(real), real.shape).astype(np.float32)
    window[:] = window * (1 - feather) + (best + noise) * feather
    return photo, CompositePlate(plate_label(display), layout.name, box, quad)


def composite_photo(
    jpeg: bytes, boxes: list[tuple[float, float, float, float]], rng: np.random.Generator, rows: int | None = 1
) -> CompositePhoto:
    """The photo with each plate at least MIN_COMPOSITE_WIDTH wide replaced by a new rendered plate,
    then saved at the photo's own JPEG quality and decoded as the server decodes it."""
    photo = decode_encoded(jpeg).astype(np.float32)
    plates = []
    for box in boxes:
        if box[2] - box[0] < MIN_COMPOSITE_WIDTH:
            continue
        photo, plate = replace_plate(photo, box, choose_layout(rng, rows), rng)
        plates.append(plate)
    ok, encoded = cv2.imencode(
        ".jpg", np.clip(photo, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality(jpeg)]
    )
    assert ok, "OpenCV failed to encode a composite"
    return CompositePhoto(decode_encoded(encoded.tobytes()), plates)


def composite_file(
    path: Path, boxes: list[tuple[float, float, float, float]], rng: np.random.Generator
) -> CompositePhoto:
    return composite_photo(path.read_bytes(), boxes, rng)


def composite_crop(
    jpeg: bytes, box: tuple[float, float, float, float], rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """One recogniser sample: the plate in `box` replaced by a new one, the photo's JPEG compression
    applied around it, and the recogniser input cut from a detector-like box; with its text.

    Only an 8-pixel-aligned window around the plate is re-compressed: a grey JPEG codes each 8x8 block
    alone, so that is what compressing the whole photo would give there, at a fraction of the cost."""
    photo = decode_encoded(jpeg).astype(np.float32)
    photo, plate = replace_plate(photo, box, choose_layout(rng, rows=1), rng)
    x1, y1 = plate.quad.min(axis=0)
    x2, y2 = plate.quad.max(axis=0)
    margin_x, margin_y = (x2 - x1) * 0.4 + 8, (y2 - y1) * 0.8 + 8
    wx1, wy1 = max(int(x1 - margin_x) // 8 * 8, 0), max(int(y1 - margin_y) // 8 * 8, 0)
    wx2, wy2 = min(int(x2 + margin_x), photo.shape[1]), min(int(y2 + margin_y), photo.shape[0])
    window = np.clip(photo[wy1:wy2, wx1:wx2], 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", window, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality(jpeg)])
    assert ok, "OpenCV failed to encode a composite"
    compressed = decode_encoded(encoded.tobytes())
    bx1, by1, bx2, by2 = jittered_box(plate.quad, rng)
    return crop_plate(compressed, (bx1 - wx1, by1 - wy1, bx2 - wx1, by2 - wy1)), plate.text
