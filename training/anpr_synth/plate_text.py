"""Plate layouts: which strings a plate carries and how it looks (colours, bands, emblems, proportions).

Each text generator returns the display string: what is printed, with its spaces and hyphens, `|`
where an emblem sits between character groups (a coat of arms, registration seals) and a newline
between the rows of a two-row plate. The label is that string with everything but A-Z/0-9 removed.
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
IL_YELLOW = (245, 205, 35)
EU_BLUE = (0, 51, 153)
BLACK = (15, 15, 15)
DARK_BLUE = (20, 30, 70)
SILVER = (200, 200, 196)
BE_RED = (160, 20, 30)
EMBLEM = "|"  # in a display string: an emblem between character groups, not a character
# Every EU member's band code (and a few neighbours'); the layouts below draw from it.
EU_BAND_CODES = (
    "A",
    "B",
    "BG",
    "CY",
    "CZ",
    "D",
    "DK",
    "E",
    "EST",
    "F",
    "FIN",
    "GR",
    "H",
    "HR",
    "I",
    "IRL",
    "L",
    "LT",
    "LV",
    "M",
    "NL",
    "P",
    "PL",
    "RO",
    "S",
    "SK",
    "SLO",
    "N",
    "CH",
    "UA",
)
HR_AREAS = (
    "ZG",
    "ST",
    "RI",
    "OS",
    "PU",
    "ZD",
    "SB",
    "VK",
    "KC",
    "DA",
    "BM",
    "NA",
    "PZ",
    "SL",
    "VU",
    "KZ",
    "DJ",
    "VZ",
    "KR",
    "GS",
    "SI",
    "CK",
    "DU",
    "MA",
    "KT",
    "IM",
)
RO_COUNTIES = (
    "AB",
    "AR",
    "AG",
    "BC",
    "BH",
    "BN",
    "BT",
    "BV",
    "BR",
    "BZ",
    "CS",
    "CL",
    "CJ",
    "CT",
    "CV",
    "DB",
    "DJ",
    "GL",
    "GR",
    "GJ",
    "HR",
    "HD",
    "IL",
    "IS",
    "IF",
    "MM",
    "MH",
    "MS",
    "NT",
    "OT",
    "PH",
    "SM",
    "SJ",
    "SB",
    "SV",
    "TR",
    "TM",
    "TL",
    "VS",
    "VL",
    "VN",
)
SK_AREAS = ("BA", "BL", "BB", "KE", "KS", "NR", "PO", "PP", "TT", "TN", "ZA", "MI", "LM", "TO", "SC", "DS")


def _pick(rng: np.random.Generator, alphabet: str, count: int) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), count))


def _shaped(rng: np.random.Generator, shapes: tuple[str, ...]) -> str:
    """One of `shapes` filled in: `L` a letter, `D` a digit, anything else printed as it is."""
    shape = shapes[int(rng.integers(0, len(shapes)))]
    return "".join(_pick(rng, LETTERS, 1) if c == "L" else _pick(rng, DIGITS, 1) if c == "D" else c for c in shape)


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
    return _shaped(rng, ("DD-LLL-D", "L-DDD-LL", "LL-DDD-L", "D-LLL-DD", "LL-DD-LL", "DD-LL-LL"))


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
    """Vanity plates: half of them letters only (words and names), the rest any letters and digits."""
    text = _pick(rng, LETTERS if rng.random() < 0.5 else ALNUM, int(rng.integers(2, 8)))
    if len(text) > 3 and rng.random() < 0.5:
        cut = int(rng.integers(1, len(text)))
        text = f"{text[:cut]} {text[cut:]}"
    return text


def croatian(rng: np.random.Generator) -> str:
    area = HR_AREAS[int(rng.integers(len(HR_AREAS)))]
    return f"{area}{EMBLEM}{rng.integers(100, 10000)}-{_pick(rng, UK_LETTERS, int(rng.integers(1, 3)))}"


def slovak(rng: np.random.Generator) -> str:
    area = SK_AREAS[int(rng.integers(len(SK_AREAS)))]
    return f"{area}{EMBLEM}{rng.integers(0, 1000):03d}{_pick(rng, UK_LETTERS, 2)}"


def czech(rng: np.random.Generator) -> str:
    third = _pick(rng, DIGITS if rng.random() < 0.6 else UK_LETTERS, 1)
    return f"{rng.integers(1, 10)}{_pick(rng, 'ABCEHJKLMPSTUZ', 1)}{third} {rng.integers(0, 10000):04d}"


def romanian(rng: np.random.Generator) -> str:
    letters = _pick(rng, LETTERS, 3)
    if rng.random() < 0.35:
        return f"B {rng.integers(10, 1000)} {letters}"
    return f"{RO_COUNTIES[int(rng.integers(len(RO_COUNTIES)))]} {rng.integers(1, 100):02d} {letters}"


def german_sealed(rng: np.random.Generator) -> str:
    """District, the two registration seals, letters and number: M|AB 1234."""
    district = _pick(rng, LETTERS, int(rng.integers(1, 4)))
    return f"{district}{EMBLEM}{_pick(rng, LETTERS, int(rng.integers(1, 3)))} {rng.integers(1, 10000)}"


def austrian(rng: np.random.Generator) -> str:
    district = _pick(rng, LETTERS, int(rng.integers(1, 3)))
    return f"{district}{EMBLEM}{rng.integers(1, 100000)}{_pick(rng, LETTERS, 1)}"


def belgian(rng: np.random.Generator) -> str:
    return f"{rng.integers(1, 10)}-{_pick(rng, LETTERS, 3)}-{rng.integers(0, 1000):03d}"


def spanish_provincial(rng: np.random.Generator) -> str:
    """Pre-2000 Spanish plates, still on the road: TO 1234 AB."""
    province = _pick(rng, LETTERS, int(rng.integers(1, 3)))
    return f"{province} {rng.integers(0, 10000):04d} {_pick(rng, 'ABCDEFGHJKLMNPRSTUVWXYZ', int(rng.integers(1, 3)))}"


def israeli(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return f"{rng.integers(10, 100)}-{rng.integers(0, 1000):03d}-{rng.integers(0, 100):02d}"
    return f"{rng.integers(100, 1000)}-{rng.integers(0, 100):02d}-{rng.integers(0, 1000):03d}"


def european_other(rng: np.random.Generator) -> str:
    """Nordic, Baltic, Hungarian, Portuguese... shapes: ABC-123, AB 12345, 123 ABC, AB-12-CD, AB 12 345."""
    return _shaped(rng, ("LLL-DDD", "LL DDDDD", "DDD LLL", "LL-DD-LL", "LL DD DDD", "LLL DDD", "LL-DDDD", "DD-LL-DD"))


def light_on_dark(rng: np.random.Generator) -> str:
    """Plates with light characters on black: older UK (ABC 123D), Malaysian (WXD 1620), Singaporean
    (SAA 6878 Y) and other Asian plates, some US states."""
    kind = rng.random()
    if kind < 0.3:
        return uk_suffix(rng) if rng.random() < 0.5 else uk_dateless(rng)
    if kind < 0.6:
        return f"{_pick(rng, LETTERS, int(rng.integers(1, 4)))} {rng.integers(1, 10000)}"
    if kind < 0.8:
        return f"S{_pick(rng, LETTERS, 2)} {rng.integers(1, 10000)} {_pick(rng, LETTERS, 1)}"
    return us_style(rng)


def two_row(rng: np.random.Generator) -> str:
    """Square plates (motorcycles, imports): two rows, read top row first."""
    return _shaped(rng, ("DDDD\nLLL", "LLDD\nLLL", "LL\nDDDD", "LLL\nDDD", "DDD\nLLL"))


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
    emblem: str | None = None  # what fills an EMBLEM slot: "hr", "sk", "at" (coats of arms), "de" (seals)
    rows: int = 1  # two-row plates: the recogniser reads one row, so these train the detector only
    free_text: bool = False  # some positions take any letter or digit: only the glyph tells O from 0
    uk_face: bool = False  # drawn mostly in the UK plate face (anpr_synth.uk_face), as UK plates are
    weight: float = 1.0  # how often it is drawn


PLATE_LAYOUTS: tuple[PlateLayout, ...] = (
    PlateLayout(
        "uk_front", uk_current, 4.7, (WHITE,), band="uk", band_codes=("UK", "GB", ""), weight=3.0, uk_face=True
    ),
    PlateLayout(
        "uk_rear", uk_current, 4.7, (UK_YELLOW,), band="uk", band_codes=("UK", "GB", ""), weight=3.0, uk_face=True
    ),
    PlateLayout("uk_prefix", uk_prefix, 4.7, (WHITE, UK_YELLOW), weight=1.0, uk_face=True),
    PlateLayout("uk_suffix", uk_suffix, 4.7, (WHITE, UK_YELLOW), weight=0.6, uk_face=True),
    PlateLayout("uk_dateless", uk_dateless, 4.7, (WHITE, UK_YELLOW), weight=0.4, uk_face=True),
    PlateLayout("de", german, 4.7, (WHITE,), band="eu", band_codes=("D",), weight=0.5),
    PlateLayout("de_sealed", german_sealed, 4.7, (WHITE,), band="eu", band_codes=("D",), emblem="de", weight=0.8),
    PlateLayout("fr", french, 4.7, (WHITE,), band="eu", band_codes=("F",), weight=0.8),
    PlateLayout("nl", dutch, 4.7, (NL_YELLOW,), band="eu", band_codes=("NL",), weight=0.6),
    PlateLayout("it", italian, 4.7, (WHITE,), band="eu", band_codes=("I",), weight=0.6),
    PlateLayout("es", spanish, 4.7, (WHITE,), band="eu", band_codes=("E",), weight=0.8),
    PlateLayout("es_provincial", spanish_provincial, 4.7, (WHITE,), weight=0.3),
    PlateLayout("pl", polish, 4.7, (WHITE,), band="eu", band_codes=("PL",), weight=0.6, free_text=True),
    PlateLayout("hr", croatian, 4.7, (WHITE,), band="eu", band_codes=("HR",), emblem="hr", weight=1.0),
    PlateLayout("sk", slovak, 4.7, (WHITE,), band="eu", band_codes=("SK",), emblem="sk", weight=0.5),
    PlateLayout("cz", czech, 4.7, (WHITE,), band="eu", band_codes=("CZ",), weight=0.5, free_text=True),
    PlateLayout("ro", romanian, 4.7, (WHITE,), band="eu", band_codes=("RO",), weight=0.6),
    PlateLayout("at", austrian, 4.7, (WHITE,), band="eu", band_codes=("A",), emblem="at", weight=0.3),
    PlateLayout("be", belgian, 4.7, (WHITE,), ink=(BE_RED,), band="eu", band_codes=("B",), weight=0.3),
    PlateLayout("eu_other", european_other, 4.7, (WHITE, NL_YELLOW), band="eu", band_codes=EU_BAND_CODES, weight=1.0),
    PlateLayout("il", israeli, 4.7, (IL_YELLOW,), band="eu", band_codes=("IL",), weight=0.4),
    PlateLayout(
        "us",
        us_style,
        2.0,
        ((240, 240, 235), (225, 235, 245), (250, 245, 220)),
        ink=((20, 40, 120), (150, 20, 20), BLACK, (20, 90, 40)),
        header=True,
        weight=1.0,
    ),
    PlateLayout("personalised", personalised, 4.7, (WHITE, UK_YELLOW), weight=0.8, free_text=True),
    PlateLayout("dark", light_on_dark, 4.7, (BLACK, DARK_BLUE), ink=(SILVER, WHITE), weight=0.5),
    PlateLayout("long", long_string, 5.2, (WHITE,), band="eu", band_codes=EU_BAND_CODES, weight=0.4, free_text=True),
    PlateLayout("two_row", two_row, 1.6, (WHITE, UK_YELLOW), band="eu", band_codes=EU_BAND_CODES, rows=2, weight=0.4),
)


def choose_layout(rng: np.random.Generator, rows: int | None = None) -> PlateLayout:
    """A layout by weight; `rows=1` only from the one-row layouts (what the recogniser reads)."""
    layouts = [layout for layout in PLATE_LAYOUTS if rows is None or layout.rows == rows]
    weights = np.array([layout.weight for layout in layouts])
    return layouts[int(rng.choice(len(layouts), p=weights / weights.sum()))]


def plate_label(display: str) -> str:
    return "".join(c for c in display if c in ALNUM)
