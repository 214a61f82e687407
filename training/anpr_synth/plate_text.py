"""Plate layouts: which strings a plate carries and how it looks (colours, bands, proportions).

Each text generator returns the display string (with the spaces and hyphens printed on the plate);
the label is that string with everything but A-Z/0-9 removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
UK_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"  # I, Q, Z are not issued in the UK random part
DIGITS = "0123456789"
ALNUM = LETTERS + DIGITS

WHITE = (236, 236, 230)
UK_YELLOW = (246, 200, 30)
NL_YELLOW = (250, 190, 20)
EU_BLUE = (0, 51, 153)
BLACK = (15, 15, 15)


def _pick(rng: np.random.Generator, alphabet: str, count: int) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), count))


def uk_current(rng: np.random.Generator) -> str:
    return f"{_pick(rng, UK_LETTERS, 2)}{rng.integers(0, 100):02d} {_pick(rng, UK_LETTERS, 3)}"


def uk_prefix(rng: np.random.Generator) -> str:
    return f"{_pick(rng, UK_LETTERS, 1)}{rng.integers(1, 1000)} {_pick(rng, UK_LETTERS, 3)}"


def uk_suffix(rng: np.random.Generator) -> str:
    return f"{_pick(rng, UK_LETTERS, 3)} {rng.integers(1, 1000)}{_pick(rng, UK_LETTERS, 1)}"


def uk_dateless(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return f"{_pick(rng, UK_LETTERS, int(rng.integers(1, 4)))} {rng.integers(1, 10000)}"
    return f"{rng.integers(1, 10000)} {_pick(rng, UK_LETTERS, int(rng.integers(1, 4)))}"


def german(rng: np.random.Generator) -> str:
    district = _pick(rng, LETTERS, int(rng.integers(1, 4)))
    return f"{district} {_pick(rng, LETTERS, int(rng.integers(1, 3)))} {rng.integers(1, 10000)}"


def french(rng: np.random.Generator) -> str:
    return f"{_pick(rng, LETTERS, 2)}-{rng.integers(0, 1000):03d}-{_pick(rng, LETTERS, 2)}"


def dutch(rng: np.random.Generator) -> str:
    shapes = ("99-XXX-9", "X-999-XX", "XX-999-X", "9-XXX-99", "XX-99-XX", "99-XX-XX")
    shape = shapes[int(rng.integers(0, len(shapes)))]
    return "".join(_pick(rng, DIGITS, 1) if c == "9" else _pick(rng, LETTERS, 1) if c == "X" else c for c in shape)


def italian(rng: np.random.Generator) -> str:
    return f"{_pick(rng, LETTERS, 2)} {rng.integers(0, 1000):03d}{_pick(rng, LETTERS, 2)}"


def spanish(rng: np.random.Generator) -> str:
    return f"{rng.integers(0, 10000):04d} {_pick(rng, 'BCDFGHJKLMNPRSTVWXYZ', 3)}"


def polish(rng: np.random.Generator) -> str:
    return f"{_pick(rng, LETTERS, 2)} {_pick(rng, ALNUM, int(rng.integers(4, 6)))}"


def us_style(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return f"{_pick(rng, LETTERS, 3)} {rng.integers(0, 10000):04d}"
    return f"{rng.integers(1, 10)}{_pick(rng, LETTERS, 3)}{rng.integers(0, 1000):03d}"


def personalised(rng: np.random.Generator) -> str:
    text = _pick(rng, ALNUM, int(rng.integers(2, 8)))
    if len(text) > 3 and rng.random() < 0.5:
        cut = int(rng.integers(1, len(text)))
        text = f"{text[:cut]} {text[cut:]}"
    return text


def long_string(rng: np.random.Generator) -> str:
    """8-10 characters: the recogniser must read the longest strings it promises to."""
    return f"{_pick(rng, LETTERS, 3)} {_pick(rng, ALNUM, int(rng.integers(5, 8)))}"


@dataclass(frozen=True)
class PlateLayout:
    """How one family of plates looks. `aspect` is width / height of the plate."""

    name: str
    text: Callable[[np.random.Generator], str]
    aspect: float
    backgrounds: tuple[tuple[int, int, int], ...]
    ink: tuple[tuple[int, int, int], ...] = (BLACK,)
    band: str | None = None  # "eu" (blue, stars, country code), "uk" (UK/GB identifier) or None
    band_codes: tuple[str, ...] = ()
    header: bool = False  # US-style state name above and slogan below the number
    weight: float = 1.0  # how often it is drawn


PLATE_LAYOUTS: tuple[PlateLayout, ...] = (
    PlateLayout("uk_front", uk_current, 4.7, (WHITE,), band="uk", band_codes=("UK", "GB", ""), weight=3.0),
    PlateLayout("uk_rear", uk_current, 4.7, (UK_YELLOW,), band="uk", band_codes=("UK", "GB", ""), weight=3.0),
    PlateLayout("uk_prefix", uk_prefix, 4.7, (WHITE, UK_YELLOW), weight=1.0),
    PlateLayout("uk_suffix", uk_suffix, 4.7, (WHITE, UK_YELLOW), weight=0.6),
    PlateLayout("uk_dateless", uk_dateless, 4.7, (WHITE, UK_YELLOW), weight=0.4),
    PlateLayout("de", german, 4.7, (WHITE,), band="eu", band_codes=("D",), weight=1.0),
    PlateLayout("fr", french, 4.7, (WHITE,), band="eu", band_codes=("F",), weight=0.8),
    PlateLayout("nl", dutch, 4.7, (NL_YELLOW,), band="eu", band_codes=("NL",), weight=0.6),
    PlateLayout("it", italian, 4.7, (WHITE,), band="eu", band_codes=("I",), weight=0.6),
    PlateLayout("es", spanish, 4.7, (WHITE,), band="eu", band_codes=("E",), weight=0.6),
    PlateLayout("pl", polish, 4.7, (WHITE,), band="eu", band_codes=("PL",), weight=0.6),
    PlateLayout(
        "us",
        us_style,
        2.0,
        ((240, 240, 235), (225, 235, 245), (250, 245, 220)),
        ink=((20, 40, 120), (150, 20, 20), BLACK, (20, 90, 40)),
        header=True,
        weight=1.0,
    ),
    PlateLayout("personalised", personalised, 4.7, (WHITE, UK_YELLOW), weight=0.8),
    PlateLayout("long", long_string, 5.2, (WHITE,), band="eu", band_codes=("EU", "B", "A"), weight=0.4),
)


def choose_layout(rng: np.random.Generator) -> PlateLayout:
    weights = np.array([layout.weight for layout in PLATE_LAYOUTS])
    return PLATE_LAYOUTS[int(rng.choice(len(PLATE_LAYOUTS), p=weights / weights.sum()))]


def plate_label(display: str) -> str:
    return "".join(c for c in display if c in ALNUM)
