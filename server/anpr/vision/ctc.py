"""Plate character set and CTC decoding of the recogniser's output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anpr.contract import CHARSET, CTC_BLANK


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


def decode_ctc(probs: np.ndarray, blank_scale: float = 1.0) -> PlateText:
    """Greedy CTC decoding of one (T, classes) probability matrix.

    `blank_scale` < 1 weighs the blank down before each column's choice: CTC-trained recognisers put
    most of a column's mass on the blank, so a faint character loses to it and is dropped (and so,
    weighed down, a faint emblem is read as one). The probabilities themselves are not changed.
    A character's confidence is the highest probability it reached over the columns it spans.
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
    return PlateText("".join(chars), tuple(confidences), tuple((start, stop) for start, stop in spans))
