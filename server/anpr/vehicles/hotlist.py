"""Vehicles of interest: a CSV file indexed so every read is matched as it is made, exactly, with
look-alike characters made equal, or within one edit, in a few dictionary lookups whatever the size.

Format (a header line, then one vehicle per line; `#` lines are comments):

    plate,category,priority,note
    AB12CDE,stolen,1,silver estate
    XY99ZZZ,no_insurance,3,

`plate` is normalised like reads (upper case, spaces and dashes dropped); `priority` 1 is the most
urgent. The file is personal data: its contents are never logged above DEBUG, never a metric label,
and no RPC returns it; a hit carries the one entry it matched.

Index: exact text -> entries; look-alike canonical text (O/D/Q -> 0, I/L -> 1, B -> 8 ...) -> entries;
and for one-edit matches each canonical text with one character deleted (a deletion neighbourhood:
two strings are within one edit exactly when deleting at most one character from each makes them
equal), checked with a real edit distance before it counts.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from anpr.vehicles.records import HotlistEntry, MatchKind
from anpr.vehicles.similarity import canonical, within_one_edit

log = logging.getLogger(__name__)

COLUMNS = ("plate", "category", "priority", "note")


class HotlistSettings(BaseModel):
    """The `[hotlist]` section."""

    model_config = {"extra": "forbid", "frozen": True}

    file: Path | None = Field(None, description="CSV of vehicles of interest; unset: no hotlist")
    reload_interval_s: float = Field(5.0, gt=0, description="how often the file is checked for changes")
    fuzzy_min_length: int = Field(5, ge=1, description="shorter plates match exactly or by look-alikes only")
    max_entries: int = Field(1_000_000, ge=1, description="a longer file is refused")


class HotlistError(ValueError):
    """A hotlist file that cannot be used; the message names the line, never a plate."""


@dataclass(frozen=True)
class HotlistMatch:
    entry: HotlistEntry
    kind: MatchKind


def normalise_plate(text: str) -> str:
    return "".join(c for c in text.upper() if c.isalnum())


def _deletions(text: str) -> Iterator[str]:
    for k in range(len(text)):
        yield text[:k] + text[k + 1 :]


def _compact(index: dict[str, list[HotlistEntry]]) -> dict[str, HotlistEntry | tuple[HotlistEntry, ...]]:
    return {key: found[0] if len(found) == 1 else tuple(found) for key, found in index.items()}


def _entries(index: dict[str, HotlistEntry | tuple[HotlistEntry, ...]], key: str) -> tuple[HotlistEntry, ...]:
    found = index.get(key)
    if found is None:
        return ()
    return found if isinstance(found, tuple) else (found,)


class Hotlist:
    """An immutable index of entries; a reload builds a new one and swaps it in whole."""

    def __init__(self, entries: list[HotlistEntry], fuzzy_min_length: int = 5) -> None:
        self.entries = entries
        self.fuzzy_min_length = fuzzy_min_length
        exact: dict[str, list[HotlistEntry]] = defaultdict(list)
        # The canonical text of each entry and, for entries long enough for fuzzy matching, that text
        # with each one character deleted -> entries.
        near: dict[str, list[HotlistEntry]] = defaultdict(list)
        for entry in entries:
            exact[entry.plate].append(entry)
            folded = canonical(entry.plate)
            near[folded].append(entry)
            if len(entry.plate) >= fuzzy_min_length:
                for key in set(_deletions(folded)) - {folded}:
                    near[key].append(entry)
        self._exact = _compact(exact)
        self._near = _compact(near)  # most keys hold one entry: no list for those (-40% memory)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, text: str) -> list[HotlistMatch]:
        """Every entry `text` matches, each once, by its closest kind (exact, look-alike, one edit)."""
        folded = canonical(text)
        near = self._near
        # An entry within one edit shares a key with the read: its canonical text or that text less one
        # character equals the read's, or the read's less one character.
        candidates = list(_entries(near, folded))
        if len(text) >= self.fuzzy_min_length:  # a substitution or an insertion in an entry that long
            for key in _deletions(folded):
                found = near.get(key)
                if found is not None:
                    candidates += found if isinstance(found, tuple) else (found,)
        if not candidates:
            return []
        exact = _entries(self._exact, text)
        matches: dict[int, HotlistMatch] = {id(entry): HotlistMatch(entry, MatchKind.EXACT) for entry in exact}
        for entry in candidates:
            if id(entry) in matches:
                continue
            entry_folded = canonical(entry.plate)
            if entry_folded == folded:
                matches[id(entry)] = HotlistMatch(entry, MatchKind.LOOKALIKE)
            elif len(entry.plate) >= self.fuzzy_min_length and within_one_edit(entry_folded, folded):
                matches[id(entry)] = HotlistMatch(entry, MatchKind.ONE_EDIT)
        return sorted(matches.values(), key=lambda m: (m.kind.value, m.entry.priority))


def parse_hotlist(data: str, max_entries: int = 1_000_000) -> list[HotlistEntry]:
    """Entries of a hotlist CSV; raises HotlistError naming the first bad line."""
    lines = [line for line in data.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
        raise HotlistError(f"hotlist header must be {','.join(COLUMNS)}")
    entries = []
    for number, row in enumerate(reader, 2):
        if len(row) != len(COLUMNS):
            raise HotlistError(f"hotlist line {number}: want {len(COLUMNS)} fields, got {len(row)}")
        plate = normalise_plate(row[0])
        if not 1 <= len(plate) <= 10:
            raise HotlistError(f"hotlist line {number}: a plate needs 1-10 letters or digits")
        try:
            priority = int(row[2])
        except ValueError:
            raise HotlistError(f"hotlist line {number}: priority must be a whole number") from None
        entries.append(HotlistEntry(plate, row[1].strip(), priority, row[3].strip()))
        if len(entries) > max_entries:
            raise HotlistError(f"hotlist has more than {max_entries} entries")
    return entries


def load_hotlist(path: Path, settings: HotlistSettings) -> Hotlist:
    """Reads and indexes a hotlist file (in a worker thread: 100,000 entries take about a second)."""
    try:
        data = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise HotlistError(f"hotlist {path}: {error}") from None
    return Hotlist(parse_hotlist(data, settings.max_entries), settings.fuzzy_min_length)
