"""Scene backgrounds and text that is not a plate: signs, shop fronts, stickers, road markings."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from anpr_synth.fonts import available_fonts, load_font
from anpr_synth.plate_text import ALNUM, DIGITS, LETTERS

WORDS = (
    "STOP",
    "BUS LANE",
    "NO ENTRY",
    "TAXI",
    "PARKING",
    "EXIT",
    "CITY CENTRE",
    "POLICE",
    "Open 24h",
    "GIVE WAY",
    "A406",
    "M25",
    "SLOW",
    "Pizza",
    "Pharmacy",
    "KEEP CLEAR",
    "Delivery",
    "Hotel",
    "ONE WAY",
    "Car Wash",
    "SALE",
    "To Let",
    "Bank",
    "CAFE",
    "SCHOOL",
    "Ambulance",
)


def _random_text(rng: np.random.Generator) -> str:
    kind = rng.random()
    if kind < 0.45:
        return WORDS[int(rng.integers(0, len(WORDS)))]
    if kind < 0.65:
        return f"0{rng.integers(100, 999)} {rng.integers(100, 999)} {rng.integers(1000, 9999)}"
    if kind < 0.85:  # codes that share the plate alphabet: hard negatives
        return "".join(ALNUM[i] for i in rng.integers(0, len(ALNUM), int(rng.integers(3, 9))))
    return "".join(LETTERS[i] for i in rng.integers(0, 26, int(rng.integers(3, 8)))).lower()


def draw_text_block(image: np.ndarray, rng: np.random.Generator, origin: tuple[int, int], size: int) -> None:
    """Draws one or two lines of text, with or without a backing panel, at `origin` (in place)."""
    fonts = available_fonts("distractor")
    font = load_font(fonts[int(rng.integers(0, len(fonts)))], max(6, size))
    lines = [_random_text(rng) for _ in range(1 if rng.random() < 0.6 else 2)]
    widths = [int(font.getlength(line)) for line in lines]
    block_w, line_h = max(widths) + size, int(size * 1.25)
    block_h = line_h * len(lines) + size // 2
    x, y = origin
    x = int(np.clip(x - block_w // 2, 0, max(image.shape[1] - block_w, 0)))
    y = int(np.clip(y - block_h // 2, 0, max(image.shape[0] - block_h, 0)))
    region = image[y : y + block_h, x : x + block_w]
    if region.size == 0:
        return
    panel = Image.fromarray(region)
    draw = ImageDraw.Draw(panel)
    panel_colours = ((0, 110, 60), (0, 60, 160), (200, 30, 30), (250, 250, 250), (250, 200, 0), (110, 60, 20))
    ink = tuple(int(c) for c in rng.integers(0, 256, 3))
    if rng.random() < 0.7:
        fill = panel_colours[int(rng.integers(0, len(panel_colours)))]
        draw.rectangle((0, 0, panel.width, panel.height), fill=fill)
        ink = (15, 15, 15) if sum(fill) > 450 else (245, 245, 245)
    for i, line in enumerate(lines):
        draw.text((size // 2, size // 4 + i * line_h), line, font=font, fill=ink)
    image[y : y + block_h, x : x + block_w] = np.asarray(panel)


def draw_background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A street scene without cars: sky, buildings, road, lane markings, poles, texture."""
    image = np.zeros((h, w, 3), dtype=np.uint8)
    horizon = int(h * rng.uniform(0.05, 0.45))
    sky = np.array(rng.integers(120, 230, 3), dtype=np.float32)
    road = np.array([rng.integers(60, 140)] * 3, dtype=np.float32) + rng.integers(-10, 10, 3)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    image[:] = np.clip(sky * (1 - ramp) + road * ramp, 0, 255).astype(np.uint8)
    image[horizon:] = np.clip(road + rng.normal(0, 4, 3), 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 9))):  # buildings with window grids
        bx, bw = int(rng.uniform(-0.1, 1.0) * w), int(rng.uniform(0.08, 0.35) * w)
        bh = int(rng.uniform(0.1, 0.5) * h)
        colour = tuple(int(c) for c in rng.integers(40, 220, 3))
        cv2.rectangle(image, (bx, max(horizon - bh, 0)), (bx + bw, horizon + 2), colour, -1)
        step = int(rng.integers(12, 40) * w / 1280) + 4
        for wy in range(max(horizon - bh, 0) + step // 2, horizon - step // 2, step):
            for wx in range(bx + step // 3, bx + bw - step // 3, step):
                cv2.rectangle(
                    image, (wx, wy), (wx + step // 2, wy + step // 2), tuple(int(c * 0.6) for c in colour), -1
                )
    for _ in range(int(rng.integers(2, 8))):  # dashed lane markings converging to the horizon
        x0 = rng.uniform(-0.2, 1.2) * w
        vanish = (w * rng.uniform(0.3, 0.7), horizon)
        for t in np.arange(0.1, 1.0, 0.12):
            p = (int(vanish[0] + (x0 - vanish[0]) * t), int(vanish[1] + (h - vanish[1]) * t))
            q = (int(vanish[0] + (x0 - vanish[0]) * (t + 0.05)), int(vanish[1] + (h - vanish[1]) * (t + 0.05)))
            cv2.line(
                image, p, q, (220, 220, 210) if rng.random() < 0.8 else (230, 200, 40), max(1, int(6 * t * w / 1280))
            )
    for _ in range(int(rng.integers(0, 4))):  # poles and street furniture
        x = int(rng.uniform(0, w))
        cv2.line(
            image,
            (x, int(rng.uniform(0, horizon + 1))),
            (x, h),
            tuple(int(c) for c in rng.integers(30, 120, 3)),
            int(rng.integers(2, 12)),
        )
    texture = cv2.resize(
        rng.normal(0, 1, (max(h // 40, 2), max(w // 40, 2))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    image = np.clip(image.astype(np.float32) + texture[..., None] * rng.uniform(3, 15), 0, 255).astype(np.uint8)
    return image


def draw_wheel(image: np.ndarray, rng: np.random.Generator, centre: tuple[int, int], radius: int) -> None:
    """A wheel seen from the side: tyre, rim, spokes and hub. Real photos are full of them, and a
    bright rim with dark gaps looks enough like text on a plate to fool a detector that never saw one."""
    tyre = int(rng.integers(15, 45))
    cv2.circle(image, centre, radius, (tyre, tyre, tyre), -1, lineType=cv2.LINE_AA)
    rim = tuple(int(v) for v in rng.integers(130, 230, 3))
    inner = int(radius * rng.uniform(0.55, 0.75))
    cv2.circle(image, centre, inner, rim, -1, lineType=cv2.LINE_AA)
    spokes = int(rng.integers(5, 11))
    gap = (tyre + 10,) * 3
    phase = rng.uniform(0, 2 * np.pi)
    for k in range(spokes):
        angle = phase + 2 * np.pi * k / spokes
        tip = (int(centre[0] + 0.85 * inner * np.cos(angle)), int(centre[1] + 0.85 * inner * np.sin(angle)))
        cv2.line(image, centre, tip, gap, max(1, inner // 6), lineType=cv2.LINE_AA)
    cv2.circle(image, centre, max(1, inner // 4), rim, -1, lineType=cv2.LINE_AA)


def draw_distractors(image: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Signs, shop-front text and wheels anywhere in the frame (in place)."""
    h, w = image.shape[:2]
    for _ in range(count):
        size = int(rng.uniform(10, 48) * max(w / 1280, 0.6))
        draw_text_block(image, rng, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), size)
    for _ in range(int(rng.integers(0, 4))):
        radius = int(rng.uniform(12, 70) * max(w / 1280, 0.6))
        draw_wheel(image, rng, (int(rng.uniform(0, w)), int(rng.uniform(0.3, 1.0) * h)), radius)
    if rng.random() < 0.3:  # a painted road marking such as "BUS" or "SLOW"
        word = ("BUS", "SLOW", "STOP", "KEEP CLEAR", DIGITS[int(rng.integers(1, 7))] + "0")[int(rng.integers(0, 5))]
        cv2.putText(
            image,
            word,
            (int(rng.uniform(0, 0.7) * w), int(rng.uniform(0.6, 0.95) * h)),
            cv2.FONT_HERSHEY_SIMPLEX,
            rng.uniform(1, 3) * w / 1280,
            (225, 225, 215),
            max(2, int(4 * w / 1280)),
        )
