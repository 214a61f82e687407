"""Reading and writing labelled image sets: NAME.jpg with NAME.txt holding one plate per line.

Line format (DESIGN.md): `NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`, box in pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from anpr.vision.plate_formats import normalise_plate_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class LabelError(ValueError):
    """A label file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class LabelledPlateBox:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
    text: str


@dataclass(frozen=True)
class LabelledImage:
    image_path: Path
    plates: tuple[LabelledPlateBox, ...]


def format_label_line(image_name: str, box: tuple[int, int, int, int], text: str) -> str:
    x, y, w, h = box
    return f"{image_name}\t{x}\t{y}\t{w}\t{h}\t{text}"


def parse_label_file(label_path: Path, image_name: str) -> tuple[LabelledPlateBox, ...]:
    """Parses one label file; raises LabelError naming the file and line on any defect."""
    plates = []
    for number, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 6:
            raise LabelError(f"{label_path}:{number}: expected 6 tab-separated fields, found {len(fields)}")
        name, *numbers, text = fields
        if name != image_name:
            raise LabelError(f"{label_path}:{number}: names image {name!r}, expected {image_name!r}")
        try:
            x, y, w, h = (float(v) for v in numbers)
        except ValueError:
            raise LabelError(f"{label_path}:{number}: box values must be numbers: {numbers}") from None
        plate = normalise_plate_text(text)
        if w <= 0 or h <= 0 or not plate:
            raise LabelError(f"{label_path}:{number}: empty box or plate text")
        plates.append(LabelledPlateBox(box=(x, y, x + w, y + h), text=plate))
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
