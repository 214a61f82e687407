"""Plate character set and CTC decoding of the recogniser's output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anpr.contract import CHARSET, CTC_BLANK, MAX_PLATE_CHARS


@dataclass(frozen=True)
class PlateText:
    """A decoded plate string with one confidence per character and an overall confidence."""

    text: str
    char_confidences: tuple[float, ...]
    spans: tuple[tuple[int, int], ...] = ()  # per character, the output columns [start, stop) it spans

    @property
    def confidence(self) -> float:
        """Probability that every character is right, treating them as independent."""
        return float(np.prod(self.char_confidences)) if self.char_confidences else 0.0


def encode_text(text: str) -> list[int]:
    """Class indices of a plate string (A-Z, 0-9 only)."""
    return [CHARSET.index(c) + 1 for c in text]


# Split characters are added to reads of at least this many characters: a read of one or two is a sticker,
# a sign's fragment or noise far more often than a plate, and must not be made to look like one.
SPLIT_MIN_CHARACTERS = 3


def decode_ctc(probs: np.ndarray, blank_scale: float = 1.0, split_mass: float | None = None) -> PlateText:
    """Greedy CTC decoding of one (T, classes) probability matrix.

    `blank_scale` < 1 weighs the blank down before each column's choice: CTC-trained recognisers put
    most of a column's mass on the blank, so a faint character loses to it and is dropped (and so,
    weighed down, a faint emblem is read as one). The probabilities themselves are not changed.
    A character's confidence is the highest probability it reached over the columns it spans.

    `split_mass`: also read a character whose probability is split over two or more neighbouring
    columns that each went to the blank (see `_split_characters`), when its probability summed over
    them reaches this, in reads of at least SPLIT_MIN_CHARACTERS; None: off.
    """
    if blank_scale == 1.0:
        best = probs.argmax(axis=1)
    else:
        weighted = probs.copy()
        weighted[:, CTC_BLANK] *= blank_scale
        best = weighted.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    confidences: list[float] = []
    spans: list[list[int]] = []
    previous = CTC_BLANK
    for column, (cls, p) in enumerate(zip(best, best_p)):
        cls = int(cls)
        if cls != CTC_BLANK and cls == previous:
            confidences[-1] = max(confidences[-1], float(p))
            spans[-1][1] = column + 1
        elif cls != CTC_BLANK:
            chars.append(CHARSET[cls - 1])
            confidences.append(float(p))
            spans.append([column, column + 1])
        previous = cls
    plate = PlateText("".join(chars), tuple(confidences), tuple((start, stop) for start, stop in spans))
    if split_mass is not None and len(plate.text) >= SPLIT_MIN_CHARACTERS:
        plate = _split_characters(probs, best, plate, split_mass)
    return plate


def _split_characters(probs: np.ndarray, best: np.ndarray, plate: PlateText, split_mass: float) -> PlateText:
    """Adds to a greedy read the characters the blank took from it by a split spike.

    A CTC recogniser marks each character with one column. When a character falls between two
    columns its probability can split over both (0.29 and 0.20 for a clear `3`, the blank 0.71 and
    0.80), and greedy decoding drops it whole: a clean plate read one character short, at full
    confidence. A single faint column (a coat of arms between character groups, a bolt) is not a
    split spike and stays unread. The added character's confidence is the chance that at least one
    of its columns emits it, so the read's confidence says how unsure it is.
    """
    runner_up = probs[:, 1:].argmax(axis=1) + 1
    added: list[tuple[int, int, int, float]] = []  # start, stop, class, confidence
    column, columns = 0, len(best)
    while column < columns:
        cls = int(runner_up[column])
        stop = column
        while stop < columns and best[stop] == CTC_BLANK and runner_up[stop] == cls:
            stop += 1
        if stop - column >= 2:
            mass = probs[column:stop, cls]
            # Next to a column read as the same character, the mass is that character's tail, not another.
            beside_same = (column > 0 and best[column - 1] == cls) or (stop < columns and best[stop] == cls)
            if mass.sum() >= split_mass and not beside_same:
                added.append((column, stop, cls, float(1.0 - np.prod(1.0 - mass))))
        column = max(stop, column + 1)
    if not added or len(plate.text) + len(added) > MAX_PLATE_CHARS:  # no plate is longer
        return plate
    characters = [
        (span[0], span[1], cls, confidence)
        for cls, confidence, span in zip(encode_text(plate.text), plate.char_confidences, plate.spans)
    ]
    merged = sorted(characters + added)
    return PlateText(
        "".join(CHARSET[cls - 1] for _, _, cls, _ in merged),
        tuple(confidence for *_, confidence in merged),
        tuple((start, stop) for start, stop, *_ in merged),
    )
