"""Plate format checks: they flag a read as matching a known layout, never discard it."""

from __future__ import annotations

import re

# Order matters: the first matching format names the read. GB first (our first deployment).
PLATE_FORMATS: dict[str, re.Pattern[str]] = {
    "GB": re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z]{3}$"),  # current, since 2001: AB12CDE
    "GB_PREFIX": re.compile(r"^[A-Z][0-9]{1,3}[A-Z]{3}$"),  # 1983-2001: A123BCD
    "GB_SUFFIX": re.compile(r"^[A-Z]{3}[0-9]{1,3}[A-Z]$"),  # 1963-1983: ABC123D
    "GB_DATELESS": re.compile(r"^([A-Z]{1,3}[0-9]{1,4}|[0-9]{1,4}[A-Z]{1,3})$"),
}


def normalise_plate_text(text: str) -> str:
    """Upper-case with spaces and separators removed: how plates are compared."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def classify_plate_format(text: str, formats: dict[str, re.Pattern[str]] | None = None) -> str | None:
    """Name of the first format the plate text matches, or None."""
    normalised = normalise_plate_text(text)
    for name, pattern in (formats or PLATE_FORMATS).items():
        if pattern.match(normalised):
            return name
    return None
