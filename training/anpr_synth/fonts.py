"""Fonts for plates and distractor text: Debian font packages when present, else matplotlib's."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Condensed sans faces are closest to real plate typefaces (UK Charles Wright, DIN 1451 on German,
# Croatian and many other EU plates, FE-Schrift). Every candidate that exists is used; the list order
# fixes the choice per seed. Open DIN (Debian fonts-opendin) is a DIN 1451: listed twice, drawn twice
# as often.
PLATE_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/opendin/OSP-DIN.ttf",
    "/usr/share/fonts/truetype/opendin/OSP-DIN.ttf",
    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Bold.otf",
    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Regular.otf",
    "/usr/share/fonts/truetype/open-sans/OpenSans-CondBold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Bold.otf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoTTF/Roboto-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf",
)
DISTRACTOR_FONT_CANDIDATES = PLATE_FONT_CANDIDATES + (
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


def _matplotlib_fonts() -> list[str]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [str(folder / name) for name in ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif-Bold.ttf")]


@lru_cache(maxsize=2)
def available_fonts(kind: str = "plate") -> tuple[str, ...]:
    """Paths of the fonts found on this machine for `kind` ("plate" or "distractor")."""
    candidates = PLATE_FONT_CANDIDATES if kind == "plate" else DISTRACTOR_FONT_CANDIDATES
    found = tuple(path for path in candidates if Path(path).exists())
    return found or tuple(_matplotlib_fonts())


@lru_cache(maxsize=512)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _glyph(font: ImageFont.FreeTypeFont, character: str) -> np.ndarray:
    """The ink of one character, centred on its own extent, on a canvas twice the font size."""
    size = 2 * font.size
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), character, font=font, fill=255, anchor="mm")
    ink = np.asarray(canvas) > 127
    ys, xs = np.nonzero(ink)
    return np.roll(ink, (size // 2 - (ys.min() + ys.max()) // 2, size // 2 - (xs.min() + xs.max()) // 2), (0, 1))


@lru_cache(maxsize=64)
def draws_o_as_zero(path: str) -> bool:
    """Whether the face draws the letter O and the digit 0 as one glyph (Open DIN and Bebas Neue do:
    their masks overlap by 99-100%; other plate faces 39-83%). In such a face only a plate's layout
    can tell the two apart."""
    font = load_font(path, 64)
    letter, digit = _glyph(font, "O"), _glyph(font, "0")
    return bool((letter & digit).sum() >= 0.95 * (letter | digit).sum())
