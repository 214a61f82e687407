"""Scoring: edit distance, box matching and the reported metrics."""

from __future__ import annotations

import numpy as np
import pytest

from anpr.evaluation.metrics import Tally, edit_distance, match_boxes


def test_edit_distance() -> None:
    assert edit_distance("AB12CDE", "AB12CDE") == 0
    assert edit_distance("AB12CDE", "AB12CD") == 1
    assert edit_distance("AB12CDE", "A812CDE") == 1
    assert edit_distance("", "ABC") == 3


def test_matching_is_one_to_one_and_needs_half_overlap() -> None:
    labels = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], np.float32)
    detections = np.array([[1, 0, 11, 10], [0, 0, 10, 10], [104, 100, 114, 110]], np.float32)
    assert match_boxes(labels, detections) == [(0, 1)]  # the second label overlaps only 0.43


def test_tally_counts_missed_plates_as_wrong() -> None:
    tally = Tally()
    labels = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    tally.add_frame(
        labels, ["AB12CDE", "XY34ZZZ"], np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32), ["AB12CDF", "NOISE"]
    )
    metrics = tally.summary(seconds=2.0)
    assert metrics["detection_recall"] == 0.5
    assert metrics["detection_precision"] == 0.5
    assert metrics["plate_accuracy"] == 0.0
    assert metrics["char_accuracy"] == pytest.approx((1 - 1 / 7) / 2)
    assert metrics["frames_per_second"] == 0.5
