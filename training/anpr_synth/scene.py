"""Synthetic camera frames: roads, cars carrying plates, distractor text, camera degradations.

Everything is drawn from one `numpy.random.Generator`, so a (seed, index) pair always gives the
same frame and the same labels. Labels are the axis-aligned bounding boxes of the exact quads the
plates were warped into, so they match what is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from anpr.vision.crop import crop_plate
from anpr_synth.degrade import apply_camera, sample_conditions
from anpr_synth.distractors import draw_background, draw_distractors, draw_text_block
from anpr_synth.plate_render import render_plate
from anpr_synth.plate_text import choose_layout, plate_label

FRAME_SIZES = ((1280, 720), (1920, 1080), (1280, 960), (1024, 768), (800, 600), (640, 480))
FRAME_SIZE_WEIGHTS = (0.55, 0.15, 0.1, 0.08, 0.07, 0.05)
MAX_PLATES = 4


@dataclass(frozen=True)
class LabelledPlate:
    """One drawn plate: its text (A-Z/0-9), layout name and box (x, y, w, h) in frame pixels."""

    text: str
    layout: str
    box: tuple[int, int, int, int]
    quad: tuple[tuple[float, float], ...]


@dataclass
class SyntheticFrame:
    """A frame as the camera sends it (JPEG) and as the server decodes it (grey), with its plates."""

    image: np.ndarray
    jpeg: bytes
    plates: list[LabelledPlate] = field(default_factory=list)
    plate_masks: list[np.ndarray] = field(default_factory=list)  # per plate, where it was drawn (opt-in)


def frame_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def plate_quad_offsets(rng: np.random.Generator, plate_w: float, plate_h: float) -> np.ndarray:
    """Corners (TL, TR, BR, BL) of a plate seen by a camera, relative to the plate centre.

    A pinhole projection of the plate rotated in yaw (side view), pitch (camera above) and
    roll (road camber, camera mounting), roll up to 20 degrees.
    """
    yaw = np.radians(np.clip(rng.normal(0, 14), -40, 40))
    pitch = np.radians(rng.uniform(-5, 25))
    if rng.random() < 0.12:
        roll = np.radians(rng.uniform(-20, 20))
    else:
        roll = np.radians(np.clip(rng.normal(0, 5), -20, 20))
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * [plate_w / 2, plate_h / 2]
    points = np.column_stack([corners, np.zeros(4)])
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    rotated = points @ (r_roll @ r_pitch @ r_yaw).T
    focal = plate_w * rng.uniform(1.5, 5.0)
    projected = focal * rotated[:, :2] / (focal + rotated[:, 2:3])
    # Keep the apparent size: scale so the projected width matches the drawn width's cos(yaw).
    return projected.astype(np.float32)


def plate_height(quad: np.ndarray) -> float:
    """Height of a plate seen along its own edges (TL, TR, BR, BL corners), not its bounding box."""
    return float((np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2)


def warp_plate(image: np.ndarray, plate_rgba: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Composites the plate into `image` (in place) along `quad`; returns the plate's alpha mask."""
    h, w = plate_rgba.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    x1, y1 = np.floor(quad.min(axis=0)).astype(int)
    x2, y2 = np.ceil(quad.max(axis=0)).astype(int)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, image.shape[1]), min(y2, image.shape[0])
    matrix = cv2.getPerspectiveTransform(src, (quad - [x1, y1]).astype(np.float32))
    patch = cv2.warpPerspective(plate_rgba, matrix, (x2 - x1, y2 - y1), flags=cv2.INTER_AREA)
    alpha = patch[:, :, 3:4].astype(np.float32) / 255.0
    region = image[y1:y2, x1:x2].astype(np.float32)
    image[y1:y2, x1:x2] = (region * (1 - alpha) + patch[:, :, :3] * alpha).astype(np.uint8)
    mask = np.zeros(image.shape[:2], dtype=np.float32)
    mask[y1:y2, x1:x2] = alpha[:, :, 0]
    return mask


def _rotate(points: np.ndarray, centre: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return (points - centre) @ np.array([[c, s], [-s, c]]) + centre


def draw_car(
    image: np.ndarray, rng: np.random.Generator, plate_centre: np.ndarray, plate_h: float, roll: float
) -> None:
    """A car body around the plate: body, glass, lights, bumper; rotated with the plate."""
    car_w = plate_h * rng.uniform(14, 19)
    car_h = car_w * rng.uniform(0.5, 0.8)
    top = plate_centre[1] - car_h * rng.uniform(0.6, 0.8)
    left = plate_centre[0] - car_w / 2 + rng.normal(0, car_w * 0.02)
    colour = tuple(int(c) for c in rng.integers(10, 250, 3))
    if rng.random() < 0.4:  # white, black, silver and grey cars are the commonest
        v = int(rng.choice([20, 200, 235, 150, 90]))
        colour = (v, v, v)

    def poly(points: list[tuple[float, float]]) -> np.ndarray:
        return _rotate(np.array(points, dtype=np.float64), plate_centre, roll).astype(np.int32)

    r = car_w
    body = [
        (left, top + car_h * 0.35),
        (left + r * 0.08, top + car_h * 0.3),
        (left + r * 0.92, top + car_h * 0.3),
        (left + r, top + car_h * 0.35),
        (left + r, top + car_h),
        (left, top + car_h),
    ]
    cv2.fillPoly(image, [poly(body)], colour, lineType=cv2.LINE_AA)
    roof = [
        (left + r * 0.15, top),
        (left + r * 0.85, top),
        (left + r * 0.95, top + car_h * 0.32),
        (left + r * 0.05, top + car_h * 0.32),
    ]
    cv2.fillPoly(image, [poly(roof)], tuple(int(c * 0.8) for c in colour), lineType=cv2.LINE_AA)
    glass_tone = int(rng.integers(20, 90))
    glass = [
        (left + r * 0.2, top + car_h * 0.04),
        (left + r * 0.8, top + car_h * 0.04),
        (left + r * 0.88, top + car_h * 0.29),
        (left + r * 0.12, top + car_h * 0.29),
    ]
    cv2.fillPoly(image, [poly(glass)], (glass_tone, glass_tone + 5, glass_tone + 10), lineType=cv2.LINE_AA)
    light_y = top + car_h * rng.uniform(0.42, 0.55)
    light_colour = (250, 240, 200) if rng.random() < 0.5 else (200, 20, 20)
    for lx in (left + r * 0.04, left + r * 0.78):
        light = [
            (lx, light_y),
            (lx + r * 0.18, light_y),
            (lx + r * 0.18, light_y + car_h * 0.1),
            (lx, light_y + car_h * 0.1),
        ]
        cv2.fillPoly(image, [poly(light)], light_colour, lineType=cv2.LINE_AA)
    bumper_y = top + car_h * 0.88
    bumper = [(left, bumper_y), (left + r, bumper_y), (left + r, top + car_h), (left, top + car_h)]
    cv2.fillPoly(image, [poly(bumper)], tuple(int(c * 0.55) for c in colour), lineType=cv2.LINE_AA)
    if rng.random() < 0.2:  # livery or sticker text on the body: a reading the detector must ignore
        # Above the plate's row (at least ~1.2 plate heights clear), so it never runs into the plate.
        x = int(plate_centre[0] + rng.choice([-1, 1]) * car_w * rng.uniform(0.2, 0.35))
        y = int(top + car_h * rng.uniform(0.3, 0.42))
        draw_text_block(image, rng, (x, y), max(6, int(plate_h * rng.uniform(0.4, 0.7))))


def occlude_plate(image: np.ndarray, rng: np.random.Generator, quad: np.ndarray) -> None:
    """Partial occlusion at the plate's edge (tow bar, bike rack, pole) that leaves text readable."""
    x1, y1 = quad.min(axis=0)
    x2, y2 = quad.max(axis=0)
    w, h = x2 - x1, y2 - y1
    colour = tuple(int(c) for c in rng.integers(0, 120, 3))
    if rng.random() < 0.5:  # a bar over the lower edge
        top = y2 - h * rng.uniform(0.05, 0.14)
        cv2.rectangle(image, (int(x1 - w * 0.1), int(top)), (int(x2 + w * 0.1), int(y2 + h * 0.3)), colour, -1)
    else:  # a thin vertical pole or bracket at one end
        x = x1 + w * rng.choice([rng.uniform(0.0, 0.05), rng.uniform(0.95, 1.0)])
        cv2.line(image, (int(x), int(y1 - h)), (int(x), int(y2 + h)), colour, max(1, int(w * 0.025)))


def _sample_plate_height(rng: np.random.Generator, frame_w: int) -> float:
    """Plate height in pixels: log-uniform, larger on higher-resolution cameras."""
    return float(np.exp(rng.uniform(np.log(16), np.log(72))) * max(frame_w / 1280, 0.75))


def _overlaps(box: np.ndarray, others: list[np.ndarray], margin: float) -> bool:
    return any(
        box[0] < o[2] + margin and o[0] < box[2] + margin and box[1] < o[3] + margin and o[1] < box[3] + margin
        for o in others
    )


def _labelled(text: str, layout: str, quad: np.ndarray, drawn: np.ndarray) -> LabelledPlate:
    """The label of a plate: its box is the extent of the pixels it covers (at least half), which for a
    tilted plate with rounded corners is a pixel or two inside its corners' box."""
    ys, xs = np.nonzero(drawn > 0.5)
    if len(xs) == 0:  # too small to cover any pixel by half: the corners' box
        xs, ys = np.floor(quad[:, 0]).astype(int), np.floor(quad[:, 1]).astype(int)
    x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    return LabelledPlate(text, layout, (x1, y1, x2 - x1, y2 - y1), tuple((float(x), float(y)) for x, y in quad))


def generate_frame(
    seed: int,
    index: int,
    frame_size: tuple[int, int] | None = None,
    keep_masks: bool = False,
    two_row_plates: bool = False,
) -> SyntheticFrame:
    """Draws frame `index` of the synthetic stream `seed`.

    Args:
        frame_size: (width, height); by default drawn from common ANPR camera resolutions.
        keep_masks: also return where each plate's pixels landed (for tests of the labels).
        two_row_plates: draw two-row plates too (the detector learns to find them; the recogniser reads
            one row, so sets scored on reading leave them out).
    """
    rng = frame_rng(seed, index)
    if frame_size is None:
        frame_size = FRAME_SIZES[int(rng.choice(len(FRAME_SIZES), p=FRAME_SIZE_WEIGHTS))]
    w, h = frame_size
    conditions = sample_conditions(rng)
    image = draw_background(rng, w, h)
    draw_distractors(image, rng, int(rng.integers(1, 7)))

    plate_count = 0 if rng.random() < 0.08 else int(rng.integers(1, MAX_PLATES + 1))
    plate_boxes: list[np.ndarray] = []
    drawn: list[tuple[np.ndarray, np.ndarray, str, str]] = []
    heights = sorted(_sample_plate_height(rng, w) for _ in range(plate_count))
    for plate_h in heights:  # far (small) cars first, so nearer cars are drawn over them
        layout = choose_layout(rng, None if two_row_plates else 1)
        display = layout.text(rng)
        plate_h_eff = plate_h * (1.25 if layout.aspect < 3 else 1.0)
        plate_w = plate_h_eff * layout.aspect
        if plate_w > 0.3 * w:
            plate_w, plate_h_eff = 0.3 * w, 0.3 * w / layout.aspect
        offsets = plate_quad_offsets(rng, plate_w, plate_h_eff)
        roll = float(np.arctan2(offsets[1, 1] - offsets[0, 1], offsets[1, 0] - offsets[0, 0]))
        lo, hi = offsets.min(axis=0), offsets.max(axis=0)
        for _attempt in range(12):
            centre = np.array([rng.uniform(4 - lo[0], w - 4 - hi[0]), rng.uniform(4 - lo[1], h - 4 - hi[1])])
            car_extent = plate_h_eff * 19 / 2
            car_box = np.array(
                [
                    centre[0] - car_extent,
                    centre[1] - car_extent * 1.2,
                    centre[0] + car_extent,
                    centre[1] + car_extent * 0.4,
                ]
            )
            if not _overlaps(car_box, plate_boxes, 6):
                break
        else:
            continue
        draw_car(image, rng, centre, plate_h_eff, roll)
        quad = offsets + centre.astype(np.float32)
        plate_boxes.append(np.concatenate([quad.min(axis=0), quad.max(axis=0)]))
        drawn.append((quad, render_plate(layout, display, rng), plate_label(display), layout.name))

    plates: list[LabelledPlate] = []
    masks: list[np.ndarray] = []
    mask = np.zeros((h, w), dtype=np.float32)
    for quad, plate_rgba, label, layout_name in drawn:
        plate_mask = warp_plate(image, plate_rgba, quad)
        mask = np.maximum(mask, plate_mask)
        if keep_masks:
            masks.append(plate_mask > 0.5)
        if rng.random() < 0.1:
            occlude_plate(image, rng, quad)
        plates.append(_labelled(label, layout_name, quad, plate_mask))
    min_plate_h = min((plate_height(np.array(p.quad)) for p in plates), default=40.0)
    image, jpeg = apply_camera(image, rng, conditions, mask, min_plate_h)
    return SyntheticFrame(image=image, jpeg=jpeg, plates=plates, plate_masks=masks)


def jittered_box(quad: np.ndarray, rng: np.random.Generator, amount: float = 1.0) -> tuple[float, float, float, float]:
    """The plate's bounding box with edges moved as a detector's are (standard deviation 4.5% of the
    width and 7% of the height: the shipped detector's measured error is about 4% and 5%)."""
    x1, y1 = quad.min(axis=0)
    x2, y2 = quad.max(axis=0)
    w, h = x2 - x1, y2 - y1
    jitter = np.clip(rng.normal(0, 1, 4), -2.5, 2.5) * amount * np.array([0.045 * w, 0.07 * h, 0.045 * w, 0.07 * h])
    return float(x1 + jitter[0]), float(y1 + jitter[1]), float(x2 + jitter[2]), float(y2 + jitter[3])


def generate_plate_crop(rng: np.random.Generator, box_jitter: float = 1.0) -> tuple[np.ndarray, str]:
    """One recogniser training sample: a plate drawn in a small scene patch, crop and label.

    The patch goes through the same plate renderer, geometry, plate-size distribution and camera
    model (at the scale of a whole frame from a sampled camera) as full frames, and is cut with the
    server's own `crop_plate` from a box jittered like a detector's (the shipped detector's box
    edges miss the label by a standard deviation of 0.04 of the width and 0.05 of the height), so
    training sees what serving sees.
    """
    camera_width = FRAME_SIZES[int(rng.choice(len(FRAME_SIZES), p=FRAME_SIZE_WEIGHTS))][0]
    layout = choose_layout(rng, rows=1)  # the recogniser reads one row
    display = layout.text(rng)
    if rng.random() < 0.5:  # half the crops at the widths ANPR cameras are set up for: 60-120 px
        plate_w = float(rng.uniform(60, 120))
        plate_h = plate_w / layout.aspect
    else:
        plate_h = _sample_plate_height(rng, camera_width) * (1.25 if layout.aspect < 3 else 1.0)
        plate_w = plate_h * layout.aspect
    offsets = plate_quad_offsets(rng, plate_w, plate_h)
    roll = float(np.arctan2(offsets[1, 1] - offsets[0, 1], offsets[1, 0] - offsets[0, 0]))
    lo, hi = offsets.min(axis=0), offsets.max(axis=0)
    pw, ph = int(hi[0] - lo[0] + plate_h * 4), int(hi[1] - lo[1] + plate_h * 4)
    conditions = sample_conditions(rng)
    image = draw_background(rng, pw, ph)
    centre = np.array([pw / 2, ph / 2]) + rng.normal(0, 2, 2)
    draw_car(image, rng, centre, plate_h, roll)
    quad = offsets + centre.astype(np.float32)
    mask = warp_plate(image, render_plate(layout, display, rng), quad)
    if rng.random() < 0.1:
        occlude_plate(image, rng, quad)
    image, _ = apply_camera(image, rng, conditions, mask, plate_height(quad), camera_width)
    return crop_plate(image, jittered_box(quad, rng, box_jitter)), plate_label(display)


__all__ = ["LabelledPlate", "SyntheticFrame", "generate_frame", "generate_plate_crop", "jittered_box"]
