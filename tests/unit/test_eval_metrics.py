"""Scoring against labels, real ones included: hidden characters, text-only and box-only labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anpr.domain import PlateRead
from anpr_benchmarks.evaluation.errors import collect_errors
from anpr_benchmarks.evaluation.metrics import (
    Tally,
    align,
    char_score,
    match_boxes,
    text_matches,
    text_matches_visible,
)
from anpr_benchmarks.evaluation.unlabelled import SUPPLEMENTS, unlabelled_plates
from anpr_synth.labelled_set import LabelError, PlateLabel, parse_label_file
from anpr_synth.real_sets import HELD_OUT, split_of


def read(text: str, box: tuple[float, float, float, float], confidence: float = 0.9) -> PlateRead:
    return PlateRead(text, confidence, (confidence,) * len(text), box, 0.9, None)


def test_alignment_counts_edits_and_lets_hidden_characters_match_anything() -> None:
    assert align("AB12CDE", "AB12CDE") == (0, [])
    assert align("RK755AJ", "9RK755AJ") == (1, [("", "9")])  # an emblem read as a character
    assert align("AB12CDE", "A812CDE") == (1, [("B", "8")])
    assert align("AB12CDE", "AB12CD") == (1, [("E", "")])
    assert align("074?C?V", "074XCYV")[0] == 0
    assert text_matches("074?C?V", "0741C2V") and not text_matches("074?C?V", "074CV")
    assert char_score("074?C?V", "074XCYV") == 1.0
    assert char_score("074?C?V", "074XCY") == pytest.approx(1 - 1 / 5)  # 5 known characters
    assert char_score("AB12CDE", None) == 0.0


def test_visible_matching_lets_a_hidden_character_be_read_as_nothing() -> None:
    assert text_matches_visible("074?C?V", "074CV") and text_matches_visible("074?C?V", "0741C2V")
    assert text_matches_visible("074?C?V", "074C2V")
    assert not text_matches_visible("074?C?V", "07CV")  # a visible character missing
    assert not text_matches_visible("AB12CDE", "AB12CD") and text_matches_visible("AB12CDE", "AB12CDE")
    assert not text_matches_visible("A.B", "AXB")  # label text is literal, not a pattern
    tally = Tally()
    labels = (PlateLabel((0, 0, 10, 10), "074?C?V"), PlateLabel((20, 0, 30, 10), "1234?BC"))
    tally.add("a.jpg", labels, [read("074CV", (0, 0, 10, 10)), read("1234BCX", (20, 0, 30, 10))])
    metrics = tally.summary(seconds=1.0)
    assert metrics["plate_accuracy"] == 0.0 and metrics["plate_accuracy_visible"] == 0.5


def test_matching_is_one_to_one_and_needs_half_overlap() -> None:
    labels = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], np.float32)
    detections = np.array([[1, 0, 11, 10], [0, 0, 10, 10], [104, 100, 114, 110]], np.float32)
    assert match_boxes(labels, detections) == [(0, 1)]  # the second label overlaps only 0.43


def test_boxed_labels_score_detection_reading_and_false_positives() -> None:
    tally = Tally()
    labels = (PlateLabel((0, 0, 10, 10), "AB12CDE"), PlateLabel((20, 0, 30, 10), "XY34ZZZ"))
    tally.add("a.jpg", labels, [read("AB12CDF", (0, 0, 10, 10)), read("NOISE", (50, 50, 60, 60))])
    metrics = tally.summary(seconds=2.0)
    assert metrics["detection_recall"] == 0.5
    assert metrics["detection_precision"] == 0.5
    assert metrics["plate_accuracy"] == 0.0
    assert metrics["read_rate"] == 0.0
    assert metrics["char_accuracy"] == pytest.approx((1 - 1 / 7) / 2)
    assert metrics["frames_per_second"] == 0.5
    kinds = sorted(p.kind or "" for p in tally.plates)
    assert kinds == ["misread", "missed"]


def test_text_only_labels_are_read_when_their_text_is_among_the_frames_reads() -> None:
    tally = Tally()
    tally.add("a.jpg", (PlateLabel(None, "RK755AJ"),), [read("SIGN", (0, 0, 5, 5)), read("RK755AJ", (9, 9, 20, 12))])
    tally.add("b.jpg", (PlateLabel(None, "OS355MT"),), [read("0S355MT", (0, 0, 5, 5))])
    tally.add("c.jpg", (PlateLabel(None, "ZG1234A"),), [])
    metrics = tally.summary(seconds=1.0)
    assert metrics["read_rate"] == pytest.approx(1 / 3)
    assert metrics["plate_accuracy"] is None and metrics["detection_recall"] is None  # no boxes to match
    assert metrics["detection_precision"] is None  # unboxed frames say nothing about false positives
    assert [p.kind for p in tally.plates] == [None, "misread", "missed"]
    assert tally.confusions() == {("O", "0"): 1}


def test_box_only_labels_count_toward_detection_only() -> None:
    tally = Tally()
    labels = (PlateLabel((0, 0, 40, 10), ""), PlateLabel((100, 0, 140, 10), "074?C?V"))
    tally.add("a.jpg", labels, [read("W0RD", (0, 0, 40, 10)), read("0741C2V", (100, 0, 140, 10))])
    metrics = tally.summary(seconds=1.0)
    assert metrics["detection_recall"] == 1.0 and metrics["detection_precision"] == 1.0
    assert metrics["plates_with_text"] == 1 and metrics["plate_accuracy"] == 1.0 and metrics["read_rate"] == 1.0


def test_plates_below_the_minimum_width_count_nowhere() -> None:
    tally = Tally(min_plate_width=20)
    labels = (PlateLabel((0, 0, 8, 3), ""), PlateLabel((100, 0, 160, 15), ""))
    tally.add("a.jpg", labels, [read("AB1", (0, 0, 8, 3)), read("SIGN", (300, 0, 330, 10))])
    metrics = tally.summary(seconds=1.0)
    assert metrics["plates_ignored_small"] == 1
    assert metrics["detection_recall"] == 0.0  # only the 60 px plate counts, and it was missed
    # The read over the tiny plate is neither right nor wrong: one detection counted, a false positive.
    assert metrics["detections"] == 1 and metrics["detection_precision"] == 0.0
    everything = tally.summary(seconds=1.0, min_plate_width=0)  # the same reads, every plate counted
    assert everything["detection_recall"] == 0.5 and everything["detection_precision"] == 0.5


def test_extended_label_lines_parse_and_bad_ones_name_the_line(tmp_path: Path) -> None:
    labels = tmp_path / "a.txt"
    labels.write_text("a.jpg\t-\t-\t-\t-\tOS 355-MT\na.jpg\t10\t20\t30\t8\t\na.jpg\t1\t2\t3\t4\t074?c?v\n")
    assert parse_label_file(labels, "a.jpg") == (
        PlateLabel(None, "OS355MT"),
        PlateLabel((10.0, 20.0, 40.0, 28.0), ""),
        PlateLabel((1.0, 2.0, 4.0, 6.0), "074?C?V"),
    )
    for bad, message in (
        ("a.jpg\t-\t-\t-\t-\t\n", "neither a box nor a plate text"),
        ("a.jpg\t-\t2\t3\t4\tAB\n", "numbers or all '-'"),
        ("a.jpg\t1\t2\t0\t4\tAB\n", "empty box"),
    ):
        labels.write_text(bad)
        with pytest.raises(LabelError, match=message):
            parse_label_file(labels, "a.jpg")


def test_paired_difference_is_an_exact_sign_test_on_the_plates_both_versions_saw() -> None:
    from anpr_benchmarks.accuracy import paired_difference

    older = {("a.jpg", k): False for k in range(12)}
    newer = {("a.jpg", k): k < 10 for k in range(12)} | {("b.jpg", 0): True}  # b.jpg: only one version saw it
    d = paired_difference(older, newer)
    assert (d["plates"], d["only_a"], d["only_b"]) == (12, 0, 10)
    assert d["p_value"] == pytest.approx(2 / 2**10)
    assert paired_difference(newer, older)["p_value"] == d["p_value"]  # two-sided
    even = paired_difference({("a", 0): True, ("a", 1): False}, {("a", 0): False, ("a", 1): True})
    assert even["p_value"] == 1.0
    assert paired_difference(older, older) == {"plates": 12, "only_a": 0, "only_b": 0, "p_value": 1.0}


def test_reads_on_plates_the_set_leaves_unboxed_are_right_only_against_completed_labels() -> None:
    unboxed = np.array([[200, 0, 240, 10]], np.float32)
    tally = Tally(unlabelled={"a.jpg": unboxed})
    labels = (PlateLabel((0, 0, 40, 10), ""),)
    reads = [read("AB12CDE", (0, 0, 40, 10)), read("B123XYZ", (202, 0, 241, 10)), read("SIGN", (300, 0, 340, 10))]
    tally.add("a.jpg", labels, reads)
    tally.add("b.jpg", labels, [read("B123XYZ", (202, 0, 241, 10))])  # no supplement for b.jpg
    metrics = tally.summary(seconds=1.0)
    assert metrics["detection_recall"] == 0.5  # b.jpg's plate was missed; the supplement adds no plate
    assert metrics["detection_precision"] == pytest.approx(1 / 4)  # the set's labels: 3 false positives
    assert metrics["detection_precision_completed"] == pytest.approx(2 / 4)  # one of them is on a plate
    assert Tally().summary(seconds=1.0)["detection_precision_completed"] is None  # no supplement, no figure
    on_plate = [r.text for f in tally.frames for r in f.on_unlabelled]
    assert on_plate == ["B123XYZ"]
    # In the errors listing it stays a false positive (against the set's labels), flagged and put last.
    listed = [(e.image, e.read and e.read.text, e.as_json().get("on_unlabelled_plate")) for e in collect_errors(tally)]
    assert listed[-1] == ("a.jpg", "B123XYZ", True)
    assert ("b.jpg", "B123XYZ", None) in listed and ("a.jpg", "SIGN", None) in listed


FRAME_SIZES = {"romania-dashcam": (960, 540)}  # the data card's image sizes


def test_the_shipped_supplements_name_held_out_frames_with_boxes_inside_them() -> None:
    """The committed supplement lists only frames of the part that is scored, never trained on."""
    for supplement in sorted(SUPPLEMENTS.glob("*.json")):
        doc = json.loads(supplement.read_text())
        folder = Path("/data") / doc["set"]
        assert folder.name == supplement.stem and doc["part"] == HELD_OUT
        boxes = unlabelled_plates(folder)
        assert boxes, supplement
        for image, image_boxes in boxes.items():
            assert split_of(folder / image) == HELD_OUT, image
            x1, y1, x2, y2 = image_boxes.T
            assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 > x1).all() and (y2 > y1).all()
            width, height = FRAME_SIZES[folder.name]
            assert (x2 <= width).all() and (y2 <= height).all()
