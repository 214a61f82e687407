"""The camera model: lighting (day, night, infrared ANPR cameras), glare, rain, blur, noise and JPEG
compression."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from anpr.ingest.decode import decode_encoded

# Legibility limits, measured on the seed-4242 hold-out with the stage-3 models: plates read
# wrong 0% at motion 0.05-0.1 plate heights but 16% at 0.1-0.2 and 38% at 0.2-0.3 (many no
# longer readable by eye); defocus sigma 0-0.02 plate heights 1.5%, 0.04-0.06 31%.
MAX_MOTION_PER_PLATE_HEIGHT = 0.1
MAX_DEFOCUS_PER_PLATE_HEIGHT = 0.03
GLARE_ON_PLATES = 0.25  # share of a glare blob's light added over plate pixels


@dataclass(frozen=True)
class CameraConditions:
    night: bool
    infrared: bool
    ambient_gain: float
    plate_gain: float
    colour_cast: tuple[float, float, float]
    motion_length: float  # pixels, before capping by plate size
    motion_angle: float  # degrees
    defocus_sigma: float
    noise_sigma: float
    jpeg_quality: int
    glare: bool
    rain: bool = False


def sample_conditions(rng: np.random.Generator) -> CameraConditions:
    night = bool(rng.random() < 0.35)
    # UK ANPR cameras are infrared: their flash lights the retro-reflective plate, not the scene.
    infrared = bool(rng.random() < (0.6 if night else 0.15))
    if infrared:
        ambient = rng.uniform(0.05, 0.3) if night else rng.uniform(0.25, 0.7)
        plate = rng.uniform(1.05, 1.7)
    else:
        ambient = rng.uniform(0.15, 0.45) if night else rng.uniform(0.65, 1.25)
        # Retro-reflective plates stay bright under headlights at night.
        plate = rng.uniform(0.6, 1.1) if night else rng.uniform(0.75, 1.2)
    return CameraConditions(
        night=night,
        infrared=infrared,
        ambient_gain=float(ambient),
        plate_gain=float(plate),
        colour_cast=tuple(float(v) for v in rng.uniform(0.88, 1.12, 3)),
        motion_length=float(rng.uniform(2, 10)) if rng.random() < 0.35 else 0.0,
        motion_angle=float(rng.normal(0, 20)),
        defocus_sigma=float(rng.uniform(0.4, 1.6)) if rng.random() < 0.35 else 0.0,
        noise_sigma=float(rng.uniform(3, 12) if night else rng.uniform(0.5, 6)),
        jpeg_quality=int(rng.integers(35, 96)),
        glare=bool(rng.random() < (0.4 if night else 0.1)),
        rain=bool(rng.random() < 0.12),
    )


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    size = int(np.ceil(length)) | 1
    kernel = np.zeros((size, size), dtype=np.float32)
    kernel[size // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (size, size))
    return kernel / max(kernel.sum(), 1e-6)


def _rain(frame: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Falling rain: thin bright streaks at one slant, and the haze it brings."""
    h, w = frame.shape[:2]
    streaks = np.zeros((h, w), np.float32)
    angle = np.radians(rng.normal(0, 12))
    for _ in range(int(rng.integers(150, 600) * h * w / (1280 * 720)) + 1):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        length = rng.uniform(8, 30) * scale
        end = (int(x + length * np.sin(angle)), int(y + length * np.cos(angle)))
        cv2.line(streaks, (int(x), int(y)), end, float(rng.uniform(0.3, 1.0)), 1, lineType=cv2.LINE_AA)
    streaks = cv2.GaussianBlur(streaks, (0, 0), 0.6)[..., None]
    haze = rng.uniform(0.0, 0.15)
    return frame * (1 - haze) + 128 * haze + streaks * rng.uniform(30, 90)


def apply_camera(
    image: np.ndarray,
    rng: np.random.Generator,
    conditions: CameraConditions,
    plate_mask: np.ndarray,
    min_plate_height: float,
    camera_width: int | None = None,
) -> tuple[np.ndarray, bytes]:
    """Degrades an RGB frame as a roadside camera would; returns (pixels as the server decodes them:
    grey, JPEG bytes).

    Blur is capped relative to the height of the smallest plate so labels stay legible: a plate a
    human could not read is not a fair label. The motion cap matches ANPR practice: shutters of
    1/1000 s or faster keep a car at 50 km/h within ~0.1 plate heights; ANPR lenses are focused on
    the capture zone. `min_plate_height` is the plate's own height, not its rotated bounding box.
    `camera_width` is the width of the whole camera frame when `image` is only a patch of one, so
    blur and glare keep the scale they have in full frames.
    """
    h, w = image.shape[:2]
    scale = max((camera_width or w) / 1280, 0.6)
    frame = image.astype(np.float32)
    plate_weight = cv2.GaussianBlur(plate_mask, (0, 0), 1.5)[..., None]
    if conditions.infrared:
        # Monochrome: the scene as its near-infrared brightness, dim; the plate's sheeting reflects the
        # flash whatever its visible colour (yellow rear plates come out as white as front ones), the
        # ink does not. Red and green reflect near-infrared like white, blue like black: (R + G) / 2
        # keeps white and yellow bright and black, blue, red and green inks dark.
        scene = frame @ np.array([0.35, 0.45, 0.2], dtype=np.float32)
        sheeting = (frame[..., 0] + frame[..., 1]) / 2
        grey = scene * conditions.ambient_gain * (1 - plate_weight[..., 0]) + sheeting * (
            conditions.plate_gain * plate_weight[..., 0]
        )
        frame = np.repeat(grey[..., None], 3, axis=2)
    else:
        frame *= conditions.ambient_gain + (conditions.plate_gain - conditions.ambient_gain) * plate_weight
        frame *= np.array(conditions.colour_cast, dtype=np.float32)
    if conditions.glare:
        # Full-strength glare across a plate washes it out past reading, so a quarter of it reaches plates.
        glare_weight = 1 - (1 - GLARE_ON_PLATES) * plate_weight
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            radius = rng.uniform(0.03, 0.15) * (camera_width or w)
            yy, xx = np.ogrid[:h, :w]
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2)).astype(np.float32)
            frame += blob[..., None] * glare_weight * rng.uniform(60, 200)
    if conditions.rain:
        frame = _rain(frame, rng, scale)
    motion = min(conditions.motion_length * scale, MAX_MOTION_PER_PLATE_HEIGHT * min_plate_height)
    if motion >= 2:
        frame = cv2.filter2D(frame, -1, _motion_kernel(motion, conditions.motion_angle))
    defocus = min(conditions.defocus_sigma * scale, MAX_DEFOCUS_PER_PLATE_HEIGHT * min_plate_height)
    if defocus >= 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), defocus)
    frame += rng.normal(0, conditions.noise_sigma, frame.shape[:2])[..., None].astype(np.float32)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, conditions.jpeg_quality]
    )
    assert ok, "OpenCV failed to encode a synthetic frame"
    jpeg = encoded.tobytes()
    return decode_encoded(jpeg), jpeg
