"""Draws one plate, front-on, as an RGBA image ready to be warped into a scene."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from anpr_synth.fonts import available_fonts, draws_o_as_zero, load_font
from anpr_synth.plate_text import EMBLEM, EU_BLUE, LETTERS, PlateLayout
from anpr_synth.uk_face import uk_face_path

PLATE_HEIGHT = 120  # drawing resolution; scenes scale plates down from this
UK_FACE_SHARE = 0.6  # UK plates drawn in the UK face; the rest in the other faces, as some real ones are
US_STATES = ("CALIFORNIA", "TEXAS", "NEW YORK", "FLORIDA", "OHIO", "ILLINOIS", "OREGON", "NEVADA")
US_SLOGANS = ("SUNSHINE STATE", "EMPIRE STATE", "THE LONE STAR STATE", "LAND OF LINCOLN", "DMV.GOV")


def _jitter(colour: tuple[int, int, int], rng: np.random.Generator, amount: int = 12) -> tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


EMBLEM_WIDTH = {"hr": 0.62, "sk": 0.62, "at": 0.55, "de": 0.42}  # of the text height


def _draw_text_fitted(
    canvas: Image.Image,
    text: str,
    font_path: str,
    box: tuple[int, int, int, int],
    ink: tuple[int, ...],
    spacing: float,
    emblem_width: float = 0.6,
) -> list[tuple[int, int, int, int]]:
    """Draws `text` filling `box` (x1, y1, x2, y2): full height, squeezed to fit the width. Returns the
    boxes left empty for each EMBLEM in `text` (where the caller draws the emblem).

    Plate typefaces are condensed; drawing at natural width and then resampling into the box
    gives that look with any font.
    """
    x1, y1, x2, y2 = box
    height = y2 - y1
    font = load_font(font_path, max(8, int(height * 1.25)))
    glyphs = [c for c in text if c.strip() and c != EMBLEM]
    top = min(font.getbbox(c)[1] for c in glyphs) if glyphs else 0
    bottom = max(font.getbbox(c)[3] for c in glyphs) if glyphs else height
    layer_h = bottom - top + 4
    advances = [emblem_width * layer_h if c == EMBLEM else font.getlength(c) for c in text]
    pitch = [a + spacing * height for a in advances]
    width = int(sum(pitch)) + 4
    layer = Image.new("L", (max(width, 1), layer_h), 0)
    draw = ImageDraw.Draw(layer)
    x = 2.0
    slots: list[tuple[float, float]] = []
    for c, advance, step in zip(text, advances, pitch):
        if c == EMBLEM:
            slots.append((x + (step - advance) / 2, x + (step + advance) / 2))
        else:
            draw.text((x, 2 - top), c, font=font, fill=255)
        x += step
    target_w = x2 - x1
    natural_w = int(layer.width * height / layer.height)
    out_w = min(target_w, natural_w)
    scale = out_w / layer.width
    layer = layer.resize((max(out_w, 1), height), Image.Resampling.BILINEAR)
    ox = x1 + (target_w - out_w) // 2
    canvas.paste(Image.new("RGBA", layer.size, ink + (255,)), (ox, y1), layer)
    return [(int(ox + a * scale), y1, int(ox + b * scale), y2) for a, b in slots]


def _draw_emblem(canvas: Image.Image, kind: str, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """A coat of arms or registration seals between character groups: what a recogniser must not read."""
    draw = ImageDraw.Draw(canvas)
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if kind == "de":  # the state seal above the round inspection sticker
        size = min(w, h * 0.46)
        cx = (x1 + x2) / 2
        for k, colours in enumerate((((200, 160, 40), (230, 230, 230)), ((40, 130, 200), (220, 90, 40)))):
            cy = y1 + h * (0.26 + 0.48 * k)
            outer, inner = colours
            draw.ellipse(
                (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), fill=_jitter(outer, rng) + (255,)
            )
            r = size * 0.28
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_jitter(inner, rng) + (255,))
        return
    top, bottom = y1 + h * 0.08, y2 - h * 0.05
    shield = [
        (x1, top),
        (x2, top),
        (x2, top + (bottom - top) * 0.62),
        ((x1 + x2) / 2, bottom),
        (x1, top + (bottom - top) * 0.62),
    ]
    base = {"hr": (235, 235, 235), "sk": (200, 30, 40), "at": (200, 30, 40)}.get(kind, (200, 30, 40))
    draw.polygon(shield, fill=_jitter(base, rng) + (255,), outline=(40, 40, 40, 255))
    if kind == "hr":  # red and white chequers under a blue crown
        n = 5
        cell_w, cell_h = w / n, (bottom - top) * 0.75 / n
        for i in range(n):
            for j in range(n):
                if (i + j) % 2 == 0:
                    cx1, cy1 = x1 + j * cell_w, top + i * cell_h
                    draw.rectangle((cx1, cy1, cx1 + cell_w, cy1 + cell_h), fill=_jitter((210, 30, 40), rng) + (255,))
        draw.rectangle((x1, y1, x2, top), fill=_jitter((40, 70, 170), rng) + (255,))
    elif kind == "sk":  # a white double cross on blue hills
        cx = (x1 + x2) / 2
        bar = max(1.0, w * 0.1)
        draw.rectangle((cx - bar, top + h * 0.08, cx + bar, bottom - h * 0.22), fill=(240, 240, 240, 255))
        for level in (0.25, 0.45):
            yy = top + h * level
            draw.rectangle((x1 + w * 0.22, yy - bar, x2 - w * 0.22, yy + bar), fill=(240, 240, 240, 255))
        draw.ellipse((x1 + w * 0.1, bottom - h * 0.3, x2 - w * 0.1, bottom + h * 0.05), fill=(30, 60, 160, 255))
    else:  # red-white-red
        draw.rectangle((x1, top + (bottom - top) * 0.33, x2, top + (bottom - top) * 0.6), fill=(240, 240, 240, 255))


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
    if layout.free_text and ("O" in display or "0" in display):  # a label no glyph could tell: not drawn
        fonts = tuple(path for path in fonts if not draws_o_as_zero(path)) or fonts
    font_path = fonts[int(rng.integers(0, len(fonts)))]
    if layout.uk_face and rng.random() < UK_FACE_SHARE:
        font_path = uk_face_path()
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
    spacing = rng.uniform(0.0, 0.12)
    rows = display.split("\n")
    row_h = (text_y2 - text_y1) / len(rows)
    for k, row in enumerate(rows):
        row_box = (
            text_x1,
            int(text_y1 + k * row_h),
            text_x2,
            int(text_y1 + (k + 1) * row_h - (row_h * 0.08 if len(rows) > 1 else 0)),
        )
        emblem_width = EMBLEM_WIDTH.get(layout.emblem or "", 0.6)
        for slot in _draw_text_fitted(canvas, row, font_path, row_box, ink, spacing, emblem_width):
            _draw_emblem(canvas, layout.emblem or "crest", slot, rng)

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
        dirt = np.asarray(
            Image.fromarray((rng.random((6, 20)) * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
        )
        strength = rng.uniform(0.1, 0.35) * (dirt.astype(np.float32) / 255.0) ** 2
        brown = np.array([90, 70, 40], dtype=np.float32)
        rgb = plate[:, :, :3].astype(np.float32)
        plate[:, :, :3] = (rgb * (1 - strength[..., None]) + brown * strength[..., None]).astype(np.uint8)
    return _damage(plate, rng)


def _damage(plate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Knocks a plate about: scratches and a bend, each drawn to leave the characters readable (a plate a
    person can read is what the label promises) and the outline whole (the label box is its extent)."""
    h, w = plate.shape[:2]
    if rng.random() < 0.15:  # scratches: thin light or dark lines, mostly along the plate
        for _ in range(int(rng.integers(1, 5))):
            x1, y1 = rng.uniform(0, w), rng.uniform(0, h)
            angle = rng.normal(0, 0.3)
            length = rng.uniform(0.1, 0.5) * w
            tone = (200, 200, 200) if rng.random() < 0.5 else (60, 60, 60)
            end = (int(x1 + length * np.cos(angle)), int(y1 + length * np.sin(angle)))
            cv2.line(plate, (int(x1), int(y1)), end, (*tone, 255), 1, lineType=cv2.LINE_AA)
    if rng.random() < 0.1:  # bent: the print shifted along a gentle wave (edges replicated: same outline)
        amplitude = rng.uniform(0.01, 0.04) * h
        phase, period = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 2.0) * w
        xs = np.arange(w, dtype=np.float32)
        map_x = np.tile(xs, (h, 1))
        map_y = np.arange(h, dtype=np.float32)[:, None] + amplitude * np.sin(2 * np.pi * xs / period + phase)[None, :]
        plate = cv2.remap(plate, map_x, map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return plate
