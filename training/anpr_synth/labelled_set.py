"""Labelled image sets: NAME.jpg with NAME.txt beside it, one plate per line. Synthetic sets are
written in it; the real photographs (`../shared/datasets/real`) come in it; evaluation and training
read it.

Line format: `NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>TEXT`, box in pixels of the stored image. Extended
for real data: the four box fields are `-` when only the text is known; TEXT is empty when only the
box is known; a `?` in TEXT is a character that is hidden or unreadable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
HIDDEN = "?"


class LabelError(ValueError):
    """A label file that cannot be used; the message names the file and line."""


def normalise_label_text(text: str) -> str:
    """Upper case, A-Z, 0-9 and the hidden-character mark only (spaces and separators dropped)."""
    return re.sub(r"[^A-Z0-9?]", "", text.upper())


def reads_label(label: str, read: str, hidden_may_be_skipped: bool = False) -> bool:
    """Whether `read` is the label's text, each hidden character (`?`) standing for any one character
    (or, with `hidden_may_be_skipped`, for any one character or none: a greyed-out character shows none)."""
    hidden = ".?" if hidden_may_be_skipped else "."
    return re.fullmatch("".join(hidden if c == HIDDEN else re.escape(c) for c in label), read) is not None


@dataclass(frozen=True)
class PlateLabel:
    """One labelled plate: its box (x1, y1, x2, y2 in pixels; None when unknown) and its text ("" when
    unknown; `?` for a hidden character)."""

    box: tuple[float, float, float, float] | None
    text: str

    @property
    def has_box(self) -> bool:
        return self.box is not None

    @property
    def has_text(self) -> bool:
        return bool(self.text)

    @property
    def fully_read(self) -> bool:
        """Text known and no character hidden."""
        return self.has_text and HIDDEN not in self.text


@dataclass(frozen=True)
class LabelledImage:
    image_path: Path
    plates: tuple[PlateLabel, ...]


def format_label_line(image_name: str, box: tuple[int, int, int, int] | None, text: str) -> str:
    x, y, w, h = box if box is not None else ("-",) * 4
    return f"{image_name}\t{x}\t{y}\t{w}\t{h}\t{text}"


def parse_label_file(label_path: Path, image_name: str) -> tuple[PlateLabel, ...]:
    """Parses one label file; raises LabelError naming the file and line on any defect."""
    plates = []
    for number, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 6:
            raise LabelError(f"{label_path}:{number}: expected 6 tab-separated fields, found {len(fields)}")
        name, *numbers, raw_text = fields
        if name != image_name:
            raise LabelError(f"{label_path}:{number}: names image {name!r}, expected {image_name!r}")
        text = normalise_label_text(raw_text)
        box: tuple[float, float, float, float] | None = None
        if numbers != ["-"] * 4:
            try:
                x, y, w, h = (float(v) for v in numbers)
            except ValueError:
                raise LabelError(f"{label_path}:{number}: box values must be numbers or all '-': {numbers}") from None
            if w <= 0 or h <= 0:
                raise LabelError(f"{label_path}:{number}: empty box")
            box = (x, y, x + w, y + h)
        if box is None and not text:
            raise LabelError(f"{label_path}:{number}: neither a box nor a plate text")
        plates.append(PlateLabel(box=box, text=text))
    return tuple(plates)


def iter_labelled_set(directory: Path) -> Iterator[LabelledImage | LabelError]:
    """Yields each labelled image of `directory` in name order, or a LabelError for one to skip."""
    images = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for image_path in images:
        label_path = image_path.with_suffix(".txt")
        if not label_path.exists():
            yield LabelError(f"{image_path}: no label file {label_path.name}")
            continue
        try:
            yield LabelledImage(image_path, parse_label_file(label_path, image_path.name))
        except (LabelError, UnicodeDecodeError) as error:
            yield error if isinstance(error, LabelError) else LabelError(f"{label_path}: not UTF-8 text")


def read_labelled_set(directory: Path) -> list[LabelledImage]:
    """Every usable labelled image of `directory` (for training: files that cannot be used are left out)."""
    return [entry for entry in iter_labelled_set(directory) if isinstance(entry, LabelledImage)]
