"""Draws one plate, front-on, as an RGBA image ready to be warped into a scene."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from anpr_synth.fonts import available_fonts, load_font
from anpr_synth.plate_text import EU_BLUE, LETTERS, PlateLayout

PLATE_HEIGHT = 120  # drawing resolution; scenes scale plates down from this
US_STATES = ("CALIFORNIA", "TEXAS", "NEW YORK", "FLORIDA", "OHIO", "ILLINOIS", "OREGON", "NEVADA")
US_SLOGANS = ("SUNSHINE STATE", "EMPIRE STATE", "THE LONE STAR STATE", "LAND OF LINCOLN", "DMV.GOV")


def _jitter(colour: tuple[int, int, int], rng: np.random.Generator, amount: int = 12) -> tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def _draw_text_fitted(
    canvas: Image.Image,
    text: str,
    font_path: str,
    box: tuple[int, int, int, int],
    ink: tuple[int, ...],
    spacing: float,
) -> None:
    """Draws `text` filling `box` (x1, y1, x2, y2): full height, squeezed to fit the width.

    Plate typefaces are condensed; drawing at natural width and then resampling into the box
    gives that look with any font.
    """
    x1, y1, x2, y2 = box
    height = y2 - y1
    font = load_font(font_path, max(8, int(height * 1.25)))
    glyph_boxes = [font.getbbox(c) for c in text]
    advances = [font.getlength(c) for c in text]
    top = min(b[1] for b, c in zip(glyph_boxes, text) if c.strip()) if text.strip() else 0
    bottom = max(b[3] for b, c in zip(glyph_boxes, text) if c.strip()) if text.strip() else height
    pitch = [a + spacing * height for a in advances]
    width = int(sum(pitch)) + 4
    layer = Image.new("L", (max(width, 1), bottom - top + 4), 0)
    draw = ImageDraw.Draw(layer)
    x = 2.0
    for c, step in zip(text, pitch):
        draw.text((x, 2 - top), c, font=font, fill=255)
        x += step
    target_w = x2 - x1
    natural_w = int(layer.width * height / layer.height)
    out_w = min(target_w, natural_w)
    layer = layer.resize((max(out_w, 1), height), Image.BILINEAR)
    ox = x1 + (target_w - out_w) // 2
    canvas.paste(Image.new("RGBA", layer.size, ink + (255,)), (ox, y1), layer)


def _draw_eu_band(canvas: Image.Image, band_w: int, code: str, font_path: str, rng: np.random.Generator) -> None:
    h = canvas.height
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, band_w, h), fill=_jitter(EU_BLUE, rng, 8) + (255,))
    cx, cy, radius = band_w / 2, h * 0.3, band_w * 0.3
    for k in range(12):  # the ring of twelve stars, as dots at this scale
        a = 2 * np.pi * k / 12
        sx, sy = cx + radius * np.cos(a), cy + radius * np.sin(a)
        draw.ellipse((sx - 2.5, sy - 2.5, sx + 2.5, sy + 2.5), fill=(255, 204, 0, 255))
    if code:
        _draw_text_fitted(canvas, code, font_path, (2, int(h * 0.6), band_w - 2, int(h * 0.9)), (245, 245, 245), 0.05)


def _draw_uk_band(canvas: Image.Image, band_w: int, code: str, font_path: str, rng: np.random.Generator) -> None:
    h = canvas.height
    draw = ImageDraw.Draw(canvas)
    colour = (0, 100, 60) if rng.random() < 0.15 else EU_BLUE  # green band: zero-emission vehicles
    draw.rectangle((0, 0, band_w, h), fill=_jitter(colour, rng, 8) + (255,))
    if code:
        _draw_text_fitted(canvas, code, font_path, (3, int(h * 0.62), band_w - 3, int(h * 0.88)), (245, 245, 245), 0.05)


def render_plate(layout: PlateLayout, display: str, rng: np.random.Generator) -> np.ndarray:
    """Returns an RGBA uint8 image of the plate, PLATE_HEIGHT pixels tall."""
    fonts = available_fonts("plate")
    font_path = fonts[int(rng.integers(0, len(fonts)))]
    h = PLATE_HEIGHT
    w = int(h * layout.aspect * rng.uniform(0.95, 1.05))
    background = _jitter(layout.backgrounds[int(rng.integers(0, len(layout.backgrounds)))], rng)
    ink = _jitter(layout.ink[int(rng.integers(0, len(layout.ink)))], rng, 10)
    canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    radius = int(rng.uniform(0, 0.12) * h)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=radius, fill=background + (255,))

    text_x1, text_x2 = int(0.05 * w), int(0.95 * w)
    if layout.band and rng.random() < 0.85:
        band_w = int(0.09 * w) if layout.aspect > 3 else int(0.14 * w)
        code = layout.band_codes[int(rng.integers(0, len(layout.band_codes)))] if layout.band_codes else ""
        (_draw_eu_band if layout.band == "eu" else _draw_uk_band)(canvas, band_w, code, font_path, rng)
        text_x1 = band_w + int(0.03 * w)
    text_y1, text_y2 = int(h * rng.uniform(0.14, 0.2)), int(h * rng.uniform(0.8, 0.86))
    if layout.header:
        small = fonts[int(rng.integers(0, len(fonts)))]
        state = US_STATES[int(rng.integers(0, len(US_STATES)))]
        _draw_text_fitted(canvas, state, small, (int(0.15 * w), int(0.05 * h), int(0.85 * w), int(0.2 * h)), ink, 0.05)
        if rng.random() < 0.6:
            slogan = US_SLOGANS[int(rng.integers(0, len(US_SLOGANS)))]
            _draw_text_fitted(
                canvas, slogan, small, (int(0.2 * w), int(0.85 * h), int(0.8 * w), int(0.95 * h)), ink, 0.05
            )
        text_y1, text_y2 = int(0.27 * h), int(0.78 * h)
    _draw_text_fitted(canvas, display, font_path, (text_x1, text_y1, text_x2, text_y2), ink, rng.uniform(0.0, 0.12))

    if rng.random() < 0.35:  # a dealer's name under the number, as many real plates carry
        dealer = "".join(LETTERS[i] for i in rng.integers(0, 26, int(rng.integers(5, 12))))
        _draw_text_fitted(
            canvas, dealer, font_path, (int(0.3 * w), int(0.9 * h), int(0.7 * w), int(0.97 * h)), ink, 0.1
        )
    if rng.random() < 0.5:
        border = max(1, int(h * rng.uniform(0.01, 0.03)))
        draw.rounded_rectangle(
            (border, border, w - 1 - border, h - 1 - border), radius=radius, outline=ink + (255,), width=border
        )

    plate = np.asarray(canvas).copy()
    if rng.random() < 0.4:  # dirt and wear: low-frequency brown blotches
        dirt = np.asarray(Image.fromarray((rng.random((6, 20)) * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC))
        strength = rng.uniform(0.1, 0.35) * (dirt.astype(np.float32) / 255.0) ** 2
        brown = np.array([90, 70, 40], dtype=np.float32)
        rgb = plate[:, :, :3].astype(np.float32)
        plate[:, :, :3] = (rgb * (1 - strength[..., None]) + brown * strength[..., None]).astype(np.uint8)
    return plate
