"""Scoring reads against labels, real labels included (README "Labelled image sets and metrics").

Labels may lack a box (text-only: read when the text is among the frame's reads), lack a text
(box-only: count toward detection only) or hide characters (`?` matches any one character and is left
out of character accuracy; `plate_accuracy_visible` also lets it be read as nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from anpr.domain import PlateRead
from anpr.vision.nms import box_iou
from anpr_synth.labelled_set import HIDDEN, PlateLabel, reads_label

MATCH_IOU = 0.5


def _same(truth_char: str, read_char: str) -> bool:
    return truth_char == HIDDEN or truth_char == read_char


def align(truth: str, read: str) -> tuple[int, list[tuple[str, str]]]:
    """Levenshtein distance with `?` in `truth` matching any character, and the edits of one cheapest
    alignment as (truth char, read char) pairs: "" for an inserted or deleted character."""
    rows, cols = len(truth) + 1, len(read) + 1
    cost = np.zeros((rows, cols), dtype=np.int32)
    cost[:, 0] = np.arange(rows)
    cost[0, :] = np.arange(cols)
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i, j] = min(
                cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (not _same(truth[i - 1], read[j - 1]))
            )
    edits: list[tuple[str, str]] = []
    i, j = rows - 1, cols - 1
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (not _same(truth[i - 1], read[j - 1])):
            if not _same(truth[i - 1], read[j - 1]):
                edits.append((truth[i - 1], read[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            edits.append((truth[i - 1], ""))
            i -= 1
        else:
            edits.append(("", read[j - 1]))
            j -= 1
    return int(cost[-1, -1]), edits[::-1]


def text_matches(truth: str, read: str) -> bool:
    return reads_label(truth, read)


def text_matches_visible(truth: str, read: str) -> bool:
    """Every visible character read, in order; a hidden character read as any one character or as none
    (a dataset's greyed-out character shows none: a recogniser that skips it reads the plate)."""
    return reads_label(truth, read, hidden_may_be_skipped=True)


def char_score(truth: str, read: str | None) -> float:
    """1 - edit distance / known characters of the truth (hidden ones left out), at least 0."""
    known = sum(c != HIDDEN for c in truth)
    if read is None or known == 0:
        return 0.0
    return max(0.0, 1.0 - align(truth, read)[0] / known)


def match_boxes(labels: np.ndarray, detections: np.ndarray, min_iou: float = MATCH_IOU) -> list[tuple[int, int]]:
    """One-to-one (label, detection) pairs, greedily by highest IoU, each with IoU >= min_iou."""
    if len(labels) == 0 or len(detections) == 0:
        return []
    iou = box_iou(labels, detections)
    pairs = []
    used_labels, used_detections = set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        li, di = np.unravel_index(flat, iou.shape)
        if iou[li, di] < min_iou:
            break
        if li in used_labels or di in used_detections:
            continue
        used_labels.add(int(li))
        used_detections.add(int(di))
        pairs.append((int(li), int(di)))
    return pairs


@dataclass(frozen=True)
class PlateOutcome:
    """What became of one labelled plate."""

    image: str
    label: PlateLabel
    read: PlateRead | None  # the matched read (by box), or for a text-only label the closest read
    iou: float | None  # with the matched read, when the label has a box
    detected: bool | None  # None: no box, or too small to count (`ignored`)
    read_in_frame: bool | None  # its text among the frame's reads; None: no text
    exact: bool | None  # box matched and text read; None without box or text
    ignored: bool = False  # box smaller than the minimum plate width: neither found nor missed

    @property
    def kind(self) -> str | None:
        """The error this plate is, if any: "missed" (not found) or "misread" (found, text wrong)."""
        if self.ignored:
            return None
        if self.label.box is not None:
            if not self.detected:
                return "missed"
            return "misread" if self.exact is False else None
        if self.read_in_frame:
            return None
        return "missed" if self.read is None else "misread"


@dataclass
class FrameScore:
    """One frame: its plates' outcomes and its reads that match no label (false positives)."""

    image: str
    plates: list[PlateOutcome]
    unmatched_reads: list[PlateRead]  # only counted where every label of the frame has a box
    reads: int  # reads that count as detections: not those over a plate too small to count
    fully_boxed: bool
    on_unlabelled: list[PlateRead] = field(default_factory=list)  # of `unmatched_reads`: on plates left unboxed


def score_frame(
    image: str,
    labels: tuple[PlateLabel, ...],
    reads: list[PlateRead],
    min_plate_width: float = 0.0,
    unlabelled: np.ndarray | None = None,
) -> FrameScore:
    """Matches one frame's reads to its labels; `unlabelled` (K, 4): plates in view that the set does
    not box (`unlabelled_plates`), which reads matching no label may match instead."""
    boxed = [k for k, label in enumerate(labels) if label.box is not None]
    label_boxes = np.array([labels[k].box for k in boxed], dtype=np.float32).reshape(-1, 4)
    read_boxes = np.array([r.box for r in reads], dtype=np.float32).reshape(-1, 4)
    pairs = match_boxes(label_boxes, read_boxes)
    ious = box_iou(label_boxes, read_boxes) if len(boxed) and len(reads) else np.zeros((len(boxed), len(reads)))
    matched = {boxed[li]: di for li, di in pairs}
    texts = [r.text for r in reads]
    outcomes = []
    for k, label in enumerate(labels):
        ignored = label.box is not None and label.box[2] - label.box[0] < min_plate_width
        di = matched.get(k)
        read = reads[di] if di is not None else None
        if label.box is None and label.has_text and reads:
            read = min(reads, key=lambda r: align(label.text, r.text)[0])
        in_frame = any(text_matches(label.text, t) for t in texts) if label.has_text else None
        outcomes.append(
            PlateOutcome(
                image=image,
                label=label,
                read=read,
                iou=float(ious[boxed.index(k), di]) if di is not None else None,
                detected=None if label.box is None or ignored else di is not None,
                read_in_frame=in_frame,
                exact=(read is not None and text_matches(label.text, read.text))
                if label.box is not None and label.has_text
                else None,
                ignored=ignored,
            )
        )
    # A read over a plate too small to count is neither right nor wrong.
    small = [k for k, outcome in enumerate(outcomes) if outcome.ignored]
    used = {d for k, d in matched.items() if k not in small}
    over_small = {d for k in small for d in range(len(reads)) if ious[boxed.index(k), d] >= MATCH_IOU} - used
    fully_boxed = all(label.box is not None for label in labels)
    unmatched = [d for d in range(len(reads)) if d not in used and d not in over_small]
    on_unlabelled: list[PlateRead] = []
    if unlabelled is not None and len(unlabelled) and unmatched:
        spare = np.array([reads[d].box for d in unmatched], dtype=np.float32).reshape(-1, 4)
        on_unlabelled = [reads[unmatched[di]] for _, di in match_boxes(unlabelled.astype(np.float32), spare)]
    return FrameScore(
        image, outcomes, [reads[d] for d in unmatched], len(reads) - len(over_small), fully_boxed, on_unlabelled
    )


@dataclass
class Tally:
    """What an evaluation saw (labels and reads per frame); scored at any minimum plate width."""

    min_plate_width: float = 0.0  # the width `frames`, `plates` and `confusions` use
    unlabelled: dict[str, np.ndarray] = field(default_factory=dict)  # image name -> unboxed plates in view
    observed: list[tuple[str, tuple[PlateLabel, ...], list[PlateRead]]] = field(default_factory=list)

    def add(self, image: str, labels: tuple[PlateLabel, ...], reads: list[PlateRead]) -> None:
        self.observed.append((image, labels, reads))

    def scored(self, min_plate_width: float | None = None) -> list[FrameScore]:
        width = self.min_plate_width if min_plate_width is None else min_plate_width
        unboxed = self.unlabelled
        return [score_frame(image, labels, reads, width, unboxed.get(image)) for image, labels, reads in self.observed]

    @property
    def frames(self) -> list[FrameScore]:
        return self.scored()

    @property
    def plates(self) -> list[PlateOutcome]:
        return [p for f in self.frames for p in f.plates]

    def confusions(self) -> Counter[tuple[str, str]]:
        """(truth char, read char) of every edit in misread plates; "" is an inserted or dropped character."""
        counts: Counter[tuple[str, str]] = Counter()
        for plate in self.plates:
            if plate.label.has_text and plate.read is not None and not text_matches(plate.label.text, plate.read.text):
                counts.update(align(plate.label.text, plate.read.text)[1])
        return counts

    def summary(self, seconds: float, min_plate_width: float | None = None) -> dict[str, float | int | None]:
        frames = self.scored(min_plate_width)
        plates = [p for f in frames for p in f.plates]
        counted = [p for p in plates if p.detected is not None]
        with_text = [p for p in plates if p.label.has_text and not p.ignored]
        boxed_text = [p for p in with_text if p.exact is not None]
        precision_frames = [f for f in frames if f.fully_boxed]
        detections = sum(f.reads for f in precision_frames)
        false_positives = sum(len(f.unmatched_reads) for f in precision_frames)
        on_unlabelled = sum(len(f.on_unlabelled) for f in precision_frames)

        def ratio(numerator: float, denominator: int) -> float | None:
            return numerator / denominator if denominator else None

        return {
            "frames": len(frames),
            "plates": len(plates),
            "plates_with_box": len(counted),
            "plates_with_text": len(with_text),
            "plates_ignored_small": sum(p.ignored for p in plates),
            "detections": detections,
            "detection_recall": ratio(sum(bool(p.detected) for p in counted), len(counted)),
            "detection_precision": ratio(detections - false_positives, detections),
            # Against the set's labels completed with `unlabelled` (None without): reads on plates the
            # set leaves unboxed are right, not false positives.
            "detection_precision_completed": ratio(detections - false_positives + on_unlabelled, detections)
            if self.unlabelled
            else None,
            "plate_accuracy": ratio(sum(bool(p.exact) for p in boxed_text), len(boxed_text)),
            "plate_accuracy_visible": ratio(
                sum(p.read is not None and text_matches_visible(p.label.text, p.read.text) for p in boxed_text),
                len(boxed_text),
            ),
            "read_rate": ratio(sum(bool(p.read_in_frame) for p in with_text), len(with_text)),
            "char_accuracy": ratio(
                sum(char_score(p.label.text, p.read.text if p.read else None) for p in with_text), len(with_text)
            ),
            "frames_per_second": len(frames) / seconds if seconds > 0 else 0.0,
        }
