"""How alike two plate reads are, as an OCR engine confuses characters.

Plate recognisers swap look-alike characters (O/0, I/1, B/8, S/5, Z/2, D/0, G/6...) far more often
than unrelated ones, so grouping reads of one vehicle and matching reads against a hotlist both use
an edit distance where a look-alike substitution costs much less than any other edit.
"""

from __future__ import annotations

from functools import lru_cache

# Groups of characters a recogniser confuses; a substitution inside a group costs LOOKALIKE_COST.
LOOKALIKE_GROUPS = ("0ODQ", "1IL", "8B", "5S", "2Z", "6G", "7T", "4A", "UV")
LOOKALIKE_COST = 0.3
EDIT_COST = 1.0

_CANONICAL = {c: group[0] for group in LOOKALIKE_GROUPS for c in group}
_FOLD = str.maketrans(_CANONICAL)


def canonical(text: str) -> str:
    """The text with every look-alike character replaced by its group's first (O, D, Q -> 0; I, L -> 1)."""
    return text.translate(_FOLD)


def substitution_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    return LOOKALIKE_COST if _CANONICAL.get(a, a) == _CANONICAL.get(b, b) else EDIT_COST


@lru_cache(maxsize=65536)
def confusion_distance(a: str, b: str) -> float:
    """Edit distance where a look-alike substitution costs 0.3 and any other edit 1."""
    previous = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        current = [float(i)]
        for j, cb in enumerate(b, 1):
            current.append(
                min(
                    previous[j] + EDIT_COST,
                    current[j - 1] + EDIT_COST,
                    previous[j - 1] + substitution_cost(ca, cb),
                )
            )
        previous = current
    return previous[-1]


def within_one_edit(a: str, b: str) -> bool:
    """Whether plain edit distance (insert, delete, substitute) is at most 1, in O(len)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    for k in range(len(long)):
        if long[:k] + long[k + 1 :] == short:
            return True
    return False
