"""Matching reads to labels and scoring them (definitions in issue 2 and the README)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anpr.vision.nms import box_iou

MATCH_IOU = 0.5


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


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


@dataclass
class Tally:
    """Running counts over an evaluation; `summary` turns them into the reported metrics."""

    frames: int = 0
    plates: int = 0
    detections: int = 0
    matched: int = 0
    exact: int = 0
    char_score: float = 0.0

    def add_frame(
        self, label_boxes: np.ndarray, label_texts: list[str], read_boxes: np.ndarray, read_texts: list[str]
    ) -> None:
        self.frames += 1
        self.plates += len(label_texts)
        self.detections += len(read_texts)
        for li, di in match_boxes(label_boxes, read_boxes):
            truth, read = label_texts[li], read_texts[di]
            self.matched += 1
            self.exact += truth == read
            self.char_score += max(0.0, 1.0 - edit_distance(truth, read) / len(truth))

    def summary(self, seconds: float) -> dict[str, float | int]:
        return {
            "frames": self.frames,
            "plates": self.plates,
            "detections": self.detections,
            "detection_recall": self.matched / self.plates if self.plates else 1.0,
            "detection_precision": self.matched / self.detections if self.detections else 1.0,
            "plate_accuracy": self.exact / self.plates if self.plates else 1.0,
            "char_accuracy": self.char_score / self.plates if self.plates else 1.0,
            "frames_per_second": self.frames / seconds if seconds > 0 else 0.0,
        }
