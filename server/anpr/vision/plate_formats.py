"""Plate formats: which layouts a read matches, and format-aware correction of look-alike characters.

A format is a set of shapes, one letter per character: `L` a letter, `D` a digit. Formats with
free alphanumeric positions (Polish, US, personalised) are left out: they match almost any read.
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
    shapes: tuple[str, ...]

    @cached_property
    def pattern(self) -> re.Pattern[str]:
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

    probs: the recogniser's (T, classes) output that `plate` was greedily decoded from.
    """
    matched = classify_plate_format(plate.text, formats)
    if matched or not plate.text or len(plate.spans) != len(plate.text):
        return plate, matched
    best: tuple[PlateText, str] | None = None
    for plate_format in formats:
        for shape in plate_format.shapes:
            if len(shape) != len(plate.text):
                continue
            fitted = _fit_shape(probs, plate, shape, min_probability)
            if fitted and (best is None or fitted.confidence > best[0].confidence):
                best = (fitted, plate_format.name)
    return best or (plate, None)
