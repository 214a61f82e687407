"""Plate formats: which layouts a read matches, and format-aware correction of look-alike characters.

A format is a set of shapes, one letter per character: `L` a letter, `D` a digit. Several countries
share a shape (FR, IT and SK are all LLDDDLL; only the band tells them apart): the first enabled
format that matches names the read. `EU` is the fallback: any 4 to 8 characters mixing letters and
digits, as the plates of countries not listed are; it names a read but never corrects one. Formats
with free positions that are mostly letters (US vanity, personalised) are left out: they match
almost any read, signs and words included.

Reads are never discarded for their format. A read that matches no enabled format may have
look-alike characters swapped (O/0, I/1, B/8, S/5...) to fit the likeliest format, but only where
the recogniser itself gave each new character at least `min_probability` over that character's
columns: a clearly read character is never rewritten, so plates of unknown layouts keep what was read.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from anpr.vision.ctc import PlateText, encode_text

_CLASSES = {"L": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "D": "0123456789"}
_CLASS_COLUMNS = {kind: encode_text(chars) for kind, chars in _CLASSES.items()}  # recogniser output columns


def _runs(*parts: tuple[str, int, int]) -> tuple[str, ...]:
    """All shapes of consecutive runs: ("L", 1, 3), ("D", 1, 4) -> "LD", "LDD", ... "LLLDDDD"."""
    ranges = [[kind * n for n in range(low, high + 1)] for kind, low, high in parts]
    return tuple("".join(combo) for combo in itertools.product(*ranges))


@dataclass(frozen=True)
class PlateFormat:
    name: str
    shapes: tuple[str, ...]  # what correction fits reads to; empty: a fallback that names reads only
    fallback_pattern: str | None = None

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        if self.fallback_pattern is not None:
            return re.compile(self.fallback_pattern)

        def regex(shape: str) -> str:
            return "".join(f"[{_CLASSES[kind]}]" for kind in shape)

        return re.compile("^(" + "|".join(regex(shape) for shape in self.shapes) + ")$")


# Order matters: the first matching format names the read. GB first (our first deployment).
PLATE_FORMATS: tuple[PlateFormat, ...] = (
    PlateFormat("GB", ("LLDDLLL",)),  # current, since 2001: AB12CDE
    PlateFormat("GB_PREFIX", _runs(("L", 1, 1), ("D", 1, 3), ("L", 3, 3))),  # 1983-2001: A123BCD
    PlateFormat("GB_SUFFIX", _runs(("L", 3, 3), ("D", 1, 3), ("L", 1, 1))),  # 1963-1983: ABC123D
    PlateFormat("GB_DATELESS", _runs(("L", 1, 3), ("D", 1, 4)) + _runs(("D", 1, 4), ("L", 1, 3))),
    PlateFormat("FR", ("LLDDDLL",)),  # AB-123-CD
    PlateFormat("IT", ("LLDDDLL",)),  # AB 123CD: same characters as FR; only the band tells them apart
    PlateFormat("ES", ("DDDDLLL",)),  # 1234 BCD
    PlateFormat("NL", ("DDLLLD", "LDDDLL", "LLDDDL", "DLLLDD", "LLDDLL", "DDLLLL")),  # sidecodes 6-11
    PlateFormat("DE", _runs(("L", 2, 5), ("D", 1, 4))),  # district, letters, number: B AB 1234
    PlateFormat("HR", _runs(("L", 2, 2), ("D", 3, 4), ("L", 1, 2))),  # ZG 1234-AB (arms between ZG and 1234)
    PlateFormat("SK", ("LLDDDLL",)),  # BA 123AB
    PlateFormat("CZ", ("DLDDDDD", "DLLDDDD")),  # 1A2 3456
    PlateFormat(
        "PL",  # WA 12345, KR 1AB23: district, then one of a fixed set of patterns
        ("LLDDDDD", "LLDDDDL", "LLDDDLL", "LLDLDDD", "LLDLLDD", "LLLDDDD", "LLLDDDL", "LLLDDLL", "LLLDLDD", "LLLDLLD"),
    ),
    PlateFormat("RO", ("LDDLLL", "LDDDLLL", "LLDDLLL")),  # B 123 ABC, CJ 12 ABC
    PlateFormat("BE", ("DLLLDDD",)),  # 1-ABC-123
    PlateFormat("AT", _runs(("L", 1, 2), ("D", 1, 5), ("L", 1, 2))),  # W 12345 A
    PlateFormat("ES_PROVINCIAL", _runs(("L", 1, 2), ("D", 4, 4), ("L", 1, 2))),  # TO 1234 AB, before 2000
    PlateFormat("IL", ("DDDDDDD", "DDDDDDDD")),  # 12-345-67, 123-45-678
    PlateFormat("EU", (), fallback_pattern=r"^(?=.*[A-Z])(?=.*[0-9])[A-Z0-9]{4,8}$"),  # any other mixed plate
)
FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in PLATE_FORMATS)


def normalise_plate_text(text: str) -> str:
    """Upper-case with spaces and separators removed: how plates are compared."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def enabled_formats(names: Iterable[str]) -> tuple[PlateFormat, ...]:
    """The known formats with these names, in matching order; unknown names raise ValueError."""
    wanted = set(names)
    unknown = wanted - set(FORMAT_NAMES)
    if unknown:
        raise ValueError(f"unknown plate formats {sorted(unknown)}; known: {', '.join(FORMAT_NAMES)}")
    return tuple(f for f in PLATE_FORMATS if f.name in wanted)


def classify_plate_format(text: str, formats: Sequence[PlateFormat] = PLATE_FORMATS) -> str | None:
    """Name of the first format the plate text matches, or None."""
    normalised = normalise_plate_text(text)
    for plate_format in formats:
        if plate_format.pattern.match(normalised):
            return plate_format.name
    return None


def _fit_shape(probs: np.ndarray, plate: PlateText, shape: str, min_probability: float) -> PlateText | None:
    chars, confidences = list(plate.text), list(plate.char_confidences)
    for position, (kind, (start, stop)) in enumerate(zip(shape, plate.spans)):
        allowed = _CLASSES[kind]
        if chars[position] in allowed:
            continue
        best = probs[start:stop, _CLASS_COLUMNS[kind]].max(axis=0)
        choice = int(best.argmax())
        if best[choice] < min_probability:
            return None
        chars[position], confidences[position] = allowed[choice], float(best[choice])
    return PlateText("".join(chars), tuple(confidences), plate.spans)


def fit_plate_format(
    probs: np.ndarray, plate: PlateText, formats: Sequence[PlateFormat], min_probability: float
) -> tuple[PlateText, str | None]:
    """The read, fitted to the most likely enabled format when it matches none; and that format.
    Fallback formats (EU) only name what no specific format fits, read as it is.

    probs: the recogniser's (T, classes) output that `plate` was greedily decoded from.
    """
    specific = [f for f in formats if f.shapes]
    matched = classify_plate_format(plate.text, specific)
    if matched or not plate.text or len(plate.spans) != len(plate.text):
        return plate, matched or classify_plate_format(plate.text, formats)
    best: tuple[PlateText, str] | None = None
    for plate_format in formats:
        for shape in plate_format.shapes:
            if len(shape) != len(plate.text):
                continue
            fitted = _fit_shape(probs, plate, shape, min_probability)
            if fitted and (best is None or fitted.confidence > best[0].confidence):
                best = (fitted, plate_format.name)
    return best or (plate, classify_plate_format(plate.text, formats))
