"""`anpr models eval --errors OUT`: every error of an evaluation, for a person to look through.

Writes OUT/errors.json (each missed plate, misread plate and false positive: image, truth, read,
confidence, IoU, kind), OUT/worst_errors.png (a contact sheet: confidently wrong reads first, then the
largest missed plates, then the most confident false positives) and OUT/confusions.csv (truth
character, read character, count; an empty cell is a character dropped or added). These hold plate
text, which is personal data on real photographs: they are written only where the operator says.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
from PIL import Image, ImageDraw, ImageFont

from anpr.domain import PlateRead
from anpr.ingest.decode import decode_encoded
from anpr_benchmarks.evaluation.metrics import Tally
from anpr_synth.labelled_set import PlateLabel

TILE_W, TILE_H, CAPTION_H, COLUMNS = 256, 144, 34, 6


@dataclass(frozen=True)
class EvaluationError:
    image: str
    kind: str  # "missed", "misread" or "false_positive"
    label: PlateLabel | None
    read: PlateRead | None
    iou: float | None
    on_unlabelled_plate: bool = False  # a false positive against the set's labels, on a plate it leaves unboxed

    @property
    def severity(self) -> tuple[int, float]:
        """Sort key, worst first: confident misreads, large missed plates, confident false positives."""
        rank = {"misread": 0, "missed": 1, "false_positive": 2}[self.kind] + self.on_unlabelled_plate
        if self.kind == "missed":
            box = self.label.box if self.label else None
            return rank, -(box[2] - box[0]) if box else 0.0
        return rank, -(self.read.confidence if self.read else 0.0)

    def as_json(self) -> dict:
        read = self.read
        return {
            "image": self.image,
            "kind": self.kind,
            "truth": None if self.label is None else {"text": self.label.text, "box": self.label.box},
            "read": None
            if read is None
            else {
                "text": read.text,
                "confidence": round(read.confidence, 4),
                "detection_score": round(read.detection_score, 4),
                "box": [round(v, 1) for v in read.box],
            },
            "iou": None if self.iou is None else round(self.iou, 3),
            **({"on_unlabelled_plate": True} if self.on_unlabelled_plate else {}),
        }


def collect_errors(tally: Tally) -> list[EvaluationError]:
    frames = tally.frames  # scored once, for the plates and the false positives alike
    errors = [
        EvaluationError(plate.image, kind, plate.label, plate.read, plate.iou)
        for frame in frames
        for plate in frame.plates
        if (kind := plate.kind) is not None
    ]
    errors += [
        EvaluationError(frame.image, "false_positive", None, read, None, any(read is r for r in frame.on_unlabelled))
        for frame in frames
        if frame.fully_boxed
        for read in frame.unmatched_reads
    ]
    return sorted(errors, key=lambda e: e.severity)


def _tile(directory: Path, error: EvaluationError, font: ImageFont.ImageFont) -> Image.Image:
    grey = decode_encoded((directory / error.image).read_bytes())
    boxes = [b for b in (error.label.box if error.label else None, error.read.box if error.read else None) if b]
    height, width = grey.shape
    if boxes:
        x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x2, y2 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        pad_x, pad_y = max((x2 - x1) * 0.6, 24), max((y2 - y1) * 1.5, 24)
        region = (
            max(0, int(x1 - pad_x)),
            max(0, int(y1 - pad_y)),
            min(width, int(x2 + pad_x)),
            min(height, int(y2 + pad_y)),
        )
    else:
        region = (0, 0, width, height)
    crop = cv2.cvtColor(grey[region[1] : region[3], region[0] : region[2]], cv2.COLOR_GRAY2RGB)
    scale = min(TILE_W / crop.shape[1], TILE_H / crop.shape[0])
    shown = Image.fromarray(cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale)))))
    tile = Image.new("RGB", (TILE_W, TILE_H + CAPTION_H), (24, 24, 24))
    tile.paste(shown, ((TILE_W - shown.width) // 2, (TILE_H - shown.height) // 2))
    draw = ImageDraw.Draw(tile)
    offset = ((TILE_W - shown.width) // 2 - region[0] * scale, (TILE_H - shown.height) // 2 - region[1] * scale)
    for box, colour in (
        (error.label.box if error.label else None, (60, 220, 60)),
        (error.read.box if error.read else None, (240, 60, 60)),
    ):
        if box:
            draw.rectangle(
                [
                    box[0] * scale + offset[0],
                    box[1] * scale + offset[1],
                    box[2] * scale + offset[0],
                    box[3] * scale + offset[1],
                ],
                outline=colour,
                width=2,
            )
    truth = (error.label.text or "(box only)") if error.label else "-"
    read = f"{error.read.text} {error.read.confidence:.2f}" if error.read else "-"
    draw.text((4, TILE_H + 2), f"{error.kind.upper()}  {error.image[:22]}", fill=(200, 200, 200), font=font)
    draw.text((4, TILE_H + 17), f"truth {truth}  read {read}", fill=(255, 255, 255), font=font)
    return tile


def contact_sheet(directory: Path, errors: list[EvaluationError], path: Path, most: int = 48) -> None:
    """The `most` worst errors as a grid of annotated crops: truth box green, read box red."""
    shown = errors[:most]
    rows = max(1, (len(shown) + COLUMNS - 1) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * TILE_W, rows * (TILE_H + CAPTION_H)), (0, 0, 0))
    font = ImageFont.load_default()
    for k, error in enumerate(shown):
        sheet.paste(_tile(directory, error, font), ((k % COLUMNS) * TILE_W, (k // COLUMNS) * (TILE_H + CAPTION_H)))
    if not shown:
        ImageDraw.Draw(sheet).text((10, 10), "no errors", fill=(255, 255, 255), font=font)
    sheet.save(path)


def write_errors(directory: Path, tally: Tally, out: Path) -> list[EvaluationError]:
    """Writes errors.json, worst_errors.png and confusions.csv under `out`; returns the errors."""
    out.mkdir(parents=True, exist_ok=True)
    errors = collect_errors(tally)
    confusions = tally.confusions()
    (out / "errors.json").write_text(
        json.dumps(
            {
                "set": str(directory),
                "errors": [e.as_json() for e in errors],
                "confusions": [
                    {"truth": truth, "read": read, "count": count} for (truth, read), count in confusions.most_common()
                ],
            },
            indent=1,
        )
        + "\n"
    )
    with (out / "confusions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["truth", "read", "count"])
        writer.writerows((truth, read, count) for (truth, read), count in confusions.most_common())
    contact_sheet(directory, errors, out / "worst_errors.png")
    return errors


def format_confusions(tally: Tally, most: int = 12) -> str:
    """The commonest character confusions, one line: `O->0 x5, S->5 x3, +9 x2 (added), A-> x1 (dropped)`."""
    parts = []
    for (truth, read), count in tally.confusions().most_common(most):
        parts.append(f"{truth or '+'}->{read or '-'} x{count}")
    return ", ".join(parts) or "none"
