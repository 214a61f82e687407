"""The best text of a vehicle's reads: a confidence-weighted vote per character position.

Reads of one pass mostly agree; a frame with glare or motion blur misreads a character or drops one.
The vote takes the length most of the confidence agrees on, then at each position the character with
the largest summed confidence, so one confident misread frame is outvoted by the frames around it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from anpr.domain import PlateRead


@dataclass(frozen=True)
class Vote:
    text: str
    confidence: float  # mean over positions of the winning character's share of the votes there, times
    # the best confidence among the reads of the winning text (or of the winning length)
    agreeing: int  # reads whose text is the voted text


def vote(reads: Sequence[PlateRead]) -> Vote:
    """The voted text of `reads` (at least one)."""
    by_length: dict[int, float] = defaultdict(float)
    for read in reads:
        by_length[len(read.text)] += read.confidence
    length = max(by_length, key=lambda n: (by_length[n], n))
    voters = [read for read in reads if len(read.text) == length]
    scores: list[dict[str, float]] = [defaultdict(float) for _ in range(length)]
    for read in voters:
        for position, (character, confidence) in enumerate(zip(read.text, read.char_confidences)):
            scores[position][character] += confidence
    text = "".join(max(position, key=lambda c: (position[c], c)) for position in scores)
    shares = [position[c] / sum(position.values()) for position, c in zip(scores, text)] if length else [1.0]
    agreeing = [read for read in voters if read.text == text]
    best = max(read.confidence for read in agreeing or voters)
    return Vote(text, sum(shares) / len(shares) * best, len(agreeing))
