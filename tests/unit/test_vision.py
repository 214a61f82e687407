"""Pre/post-processing: letterbox, NMS, detector decoding, crops, CTC decoding, plate formats."""

from __future__ import annotations

import numpy as np
import pytest

from anpr.contract import CHARSET
from anpr.inference.pipeline import PipelineSettings, assemble_reads
from anpr.vision.crop import crop_plate
from anpr.vision.ctc import decode_ctc, encode_text
from anpr.vision.detection import Detection, decode_detections
from anpr.vision.letterbox import PAD_VALUE, Letterbox, letterbox
from anpr.vision.nms import box_iou, nms
from anpr.vision.plate_formats import (
    PLATE_FORMATS,
    classify_plate_format,
    enabled_formats,
    fit_plate_format,
    normalise_plate_text,
)


def test_iou_of_known_boxes() -> None:
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    assert iou[0] == pytest.approx([1.0, 50 / 150, 0.0])


def test_nms_keeps_the_best_of_each_cluster_in_score_order() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [51, 50, 61, 60], [100, 0, 110, 5]], float)
    scores = np.array([0.8, 0.9, 0.3, 0.7, 0.5])
    assert nms(boxes, scores, iou_threshold=0.5).tolist() == [1, 3, 4]
    assert nms(boxes, scores, iou_threshold=0.99).tolist() == [1, 0, 3, 4, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


@pytest.mark.parametrize("frame_hw", [(720, 1280), (1080, 1920), (480, 640), (1000, 500)])
def test_letterbox_round_trip_and_content_position(frame_hw: tuple[int, int]) -> None:
    h, w = frame_hw
    frame = np.zeros((h, w, 3), dtype=np.uint8)
    frame[h // 4 : h // 2, w // 4 : w // 2] = 255
    image, transform = letterbox(frame, (384, 640))
    assert image.shape == (384, 640)
    box = np.array([[w / 4, h / 4, w / 2, h / 2]], dtype=np.float32)
    mapped = transform.to_input(box)[0]
    assert np.allclose(transform.to_frame(transform.to_input(box)), box, atol=1e-3)
    cx, cy = int((mapped[0] + mapped[2]) / 2), int((mapped[1] + mapped[3]) / 2)
    assert image[cy, cx] == 255  # the bright square is where the transform says
    assert image[int(mapped[1]) - 3, cx] < 128 or mapped[1] < 3


@pytest.mark.parametrize("frame_hw", [(720, 1280), (1000, 500), (90, 160)])
def test_letterbox_into_a_used_batch_slot_matches_a_fresh_one(frame_hw: tuple[int, int]) -> None:
    frame = np.random.default_rng(1).integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    fresh, transform = letterbox(frame, (384, 640))
    batch = np.full((2, 384, 640), 7, dtype=np.uint8)  # what a previous frame left behind
    written, slot_transform = letterbox(frame, (384, 640), out=batch[1])
    assert written.base is batch and np.array_equal(batch[1], fresh) and slot_transform == transform
    assert (batch[0] == 7).all()
    pad_x, pad_y = int(transform.pad_x), int(transform.pad_y)
    assert pad_x or pad_y
    assert (batch[1, :pad_y] == PAD_VALUE).all() and (batch[1, :, :pad_x] == PAD_VALUE).all()
    assert (batch[1, 384 - pad_y :] == PAD_VALUE).all() and (batch[1, :, 640 - pad_x :] == PAD_VALUE).all()


def test_decode_detections_thresholds_suppresses_and_maps_back() -> None:
    transform = Letterbox(scale=0.5, pad_x=0.0, pad_y=12.0)
    boxes = np.array([[10, 22, 50, 32], [11, 22, 51, 32], [100, 100, 140, 110], [200, 200, 240, 210]], np.float32)
    scores = np.array([0.9, 0.8, 0.6, 0.1], np.float32)
    found = decode_detections(boxes, scores, transform, (1280, 720), score_threshold=0.35, iou_threshold=0.4)
    assert [round(d.score, 2) for d in found] == [0.9, 0.6]
    assert found[0].box == pytest.approx((20, 20, 100, 40))


def test_crop_plate_resamples_the_box_with_margin() -> None:
    frame = np.zeros((200, 400), dtype=np.uint8)
    frame[50:70, 100:180] = 200
    crop = crop_plate(frame, (100, 50, 180, 70))
    assert crop.shape == (32, 128)
    assert crop[16, 64] == 200  # centre of the plate
    assert crop[0, 0] == 0 and crop[-1, -1] == 0  # the margin shows what is around it
    edge = crop_plate(frame, (-20, -10, 60, 10))  # partly outside: border replicated, no exception
    assert edge.shape == (32, 128)


def _probs(sequence: list[int], confidence: float = 0.9) -> np.ndarray:
    probs = np.full((len(sequence), len(CHARSET) + 1), (1 - confidence) / len(CHARSET), np.float32)
    probs[np.arange(len(sequence)), sequence] = confidence
    return probs


def test_ctc_decoding_collapses_repeats_and_removes_blanks() -> None:
    a, b, one = encode_text("A")[0], encode_text("B")[0], encode_text("1")[0]
    plate = decode_ctc(_probs([0, a, a, 0, a, b, b, 0, one, 0]))
    assert plate.text == "AAB1"
    assert len(plate.char_confidences) == 4
    assert plate.confidence == pytest.approx(0.9**4, rel=1e-5)
    assert decode_ctc(_probs([0, 0, 0])).text == ""


def test_character_confidence_is_the_peak_over_its_frames() -> None:
    probs = _probs([0, encode_text("Z")[0], encode_text("Z")[0]])
    probs[1] = 0
    probs[1, encode_text("Z")[0]] = 0.6
    probs[1, 0] = 0.4
    assert decode_ctc(probs).char_confidences == pytest.approx((0.9,))


def _faint(probs: np.ndarray, column: int, char: str, probability: float) -> np.ndarray:
    """`probs` with `char` at `probability` in a blank column, the blank holding the rest."""
    probs = probs.copy()
    probs[column] = 0
    probs[column, encode_text(char)[0]] = probability
    probs[column, 0] = 1 - probability
    return probs


def test_a_lower_blank_weight_keeps_faint_characters_at_their_own_confidence() -> None:
    a, b = encode_text("A")[0], encode_text("B")[0]
    probs = _faint(_probs([a, 0, 0, 0, b]), 2, "7", 0.3)
    assert decode_ctc(probs).text == "AB"  # the blank (0.7) wins the column outright
    plate = decode_ctc(probs, blank_scale=0.3)
    assert plate.text == "A7B"
    assert plate.char_confidences == pytest.approx((0.9, 0.3, 0.9))
    assert decode_ctc(_probs([0, a, 0]), blank_scale=0.3).text == "A"  # clear blanks still separate


def test_the_blank_weight_rereads_plates_but_never_makes_one_of_an_empty_box() -> None:
    settings = PipelineSettings(ctc_blank_scale=0.3, ctc_split_mass=0)
    box = (10.0, 10.0, 90.0, 30.0)
    plate = _faint(_spelled("AB12CDE", 0.99), 1, "4", 0.3)  # a faint character between A and B
    noise = _faint(_faint(_probs([0] * 32), 5, "X", 0.3), 9, "1", 0.3)  # nothing read at scale 1
    reads = assemble_reads([[Detection(box, 0.9)], [Detection(box, 0.9)]], np.stack([plate, noise]), settings)
    assert [r.text for r in reads[0]] == ["A4B12CDE"]
    assert reads[1] == []
    unscaled = assemble_reads(
        [[Detection(box, 0.9)]], plate[None], PipelineSettings(ctc_blank_scale=1.0, ctc_split_mass=0)
    )
    assert [r.text for r in unscaled[0]] == ["AB12CDE"]


def test_a_character_split_over_two_blank_columns_is_read_when_asked() -> None:
    s, b, four = (encode_text(c)[0] for c in "SB4")
    probs = _probs([s, 0, b, 0, 0, 0, four, 0])
    probs = _faint(_faint(probs, 3, "3", 0.29), 4, "3", 0.20)  # version 3's own numbers on a clean `3`
    assert decode_ctc(probs).text == "SB4"  # greedy: the blank wins both columns, the 3 is gone
    plate = decode_ctc(probs, split_mass=0.4)
    assert plate.text == "SB34"
    assert plate.spans == ((0, 1), (2, 3), (3, 5), (6, 7))  # in column order, so formats can refit it
    assert plate.char_confidences[2] == pytest.approx(1 - 0.71 * 0.80, abs=1e-6)
    assert decode_ctc(probs, split_mass=0.5).text == "SB4"  # 0.49 in all: below the threshold


def test_one_faint_column_or_the_tail_of_a_read_character_is_not_a_split_character() -> None:
    a, b = encode_text("A")[0], encode_text("B")[0]
    emblem = _faint(_probs([a, 0, 0, 0, b, 0, a]), 2, "8", 0.45)  # a coat of arms between groups: one column
    assert decode_ctc(emblem, split_mass=0.3).text == "ABA"
    tail = _faint(_faint(_probs([a, a, 0, 0, 0, b, 0, a]), 2, "A", 0.3), 3, "A", 0.3)  # A's own spread
    assert decode_ctc(tail, split_mass=0.3).text == "ABA"


def test_split_characters_go_only_into_reads_of_plate_length() -> None:
    k, t, x = (encode_text(c)[0] for c in "KTX")
    sticker = _faint(_faint(_probs([k, 0, 0, 0, t]), 2, "I", 0.3), 3, "I", 0.3)  # a dealer sticker's KIT, read KT
    assert decode_ctc(sticker, split_mass=0.3).text == "KT"
    longer = _faint(_faint(_probs([k, 0, 0, 0, t, 0, x]), 2, "I", 0.3), 3, "I", 0.3)
    assert decode_ctc(longer, split_mass=0.3).text == "KITX"
    full = _faint(_faint(_spelled("AB12CD34EF", 0.99), 21, "7", 0.3), 22, "7", 0.3)  # ten read, an eleventh split
    assert decode_ctc(full, split_mass=0.3).text == "AB12CD34EF"  # no plate is longer than ten


def test_split_characters_are_read_only_in_boxes_that_hold_a_plate() -> None:
    box = (10.0, 10.0, 90.0, 30.0)
    noise = _faint(_faint(_probs([0] * 32), 5, "X", 0.4), 6, "X", 0.4)  # empty when decoded plainly
    plate = _faint(_faint(_spelled("AB12CDE", 0.99), 15, "7", 0.3), 16, "7", 0.3)  # after the E (column 12)
    reads = assemble_reads(
        [[Detection(box, 0.9)], [Detection(box, 0.9)]], np.stack([plate, noise]), PipelineSettings(ctc_split_mass=0.4)
    )
    assert [r.text for r in reads[0]] == ["AB12CDE7"]
    assert reads[1] == []
    off = assemble_reads([[Detection(box, 0.9)]], plate[None], PipelineSettings(ctc_split_mass=0))
    assert [r.text for r in off[0]] == ["AB12CDE"]


def test_plate_formats_flag_but_do_not_reject() -> None:
    assert classify_plate_format("AB12 CDE") == "GB"
    assert classify_plate_format("A123 BCD") == "GB_PREFIX"
    assert classify_plate_format("ABC 123D") == "GB_SUFFIX"
    assert classify_plate_format("AB-123-CD") == "FR"
    assert classify_plate_format("1234 BCD") == "GB_DATELESS"  # the first matching format names it
    assert classify_plate_format("1234 BCD", enabled_formats(["ES", "GB"])) == "ES"
    assert classify_plate_format("AB12 CDE", enabled_formats(["ES"])) is None
    assert classify_plate_format("RK755AJ") == "FR"  # Croatian, same shape: the first enabled format names it
    assert classify_plate_format("RK755AJ", enabled_formats(["HR", "GB"])) == "HR"
    assert classify_plate_format("1A23456") == "CZ" and classify_plate_format("12345678") == "IL"
    assert classify_plate_format("X7Y2K9") == "EU"  # the fallback: letters and digits mixed
    assert classify_plate_format("X7Y2K9", enabled_formats(["GB"])) is None
    assert classify_plate_format("TAXI") is None and classify_plate_format("0123456789") is None
    assert normalise_plate_text("ab12 cde") == "AB12CDE"
    assert decode_ctc(_probs([encode_text("A")[0], 0, encode_text("B")[0]])).spans == ((0, 1), (2, 3))
    with pytest.raises(ValueError, match="XX"):
        enabled_formats(["GB", "XX"])


def _read(text: str, alternatives: dict[int, tuple[str, float]]) -> np.ndarray:
    """Recogniser output reading `text`, one character per column; `alternatives` gives a
    character position a runner-up character and its probability."""
    probs = _probs(encode_text(text), confidence=0.9)
    for position, (char, p) in alternatives.items():
        probs[position] = (1 - 0.6 - p) / (len(CHARSET) - 1)
        probs[position, encode_text(text[position])[0]] = 0.6
        probs[position, encode_text(char)[0]] = p
    return probs


def test_format_fitting_swaps_a_likely_look_alike() -> None:
    probs = _read("AB1ZCDE", {3: ("2", 0.3)})  # AB12CDE with the 2 read as Z
    plate, name = fit_plate_format(probs, decode_ctc(probs), PLATE_FORMATS, min_probability=0.1)
    assert (plate.text, name) == ("AB12CDE", "GB")
    assert plate.char_confidences[3] == pytest.approx(0.3)  # the swapped character's own probability
    assert plate.confidence < decode_ctc(probs).confidence


def test_format_fitting_keeps_reads_that_match_or_are_read_clearly() -> None:
    clear = _read("AB1ZCDE", {3: ("2", 0.05)})  # the alternative is too unlikely: keep what was read
    assert fit_plate_format(clear, decode_ctc(clear), PLATE_FORMATS, 0.1) == (decode_ctc(clear), "EU")
    matching = _read("AB12CDE", {2: ("I", 0.35)})  # already a GB plate: never rewritten
    assert fit_plate_format(matching, decode_ctc(matching), PLATE_FORMATS, 0.1)[0].text == "AB12CDE"
    personalised = _read("K1N6X9", {})  # nothing specific fits: named by the fallback, read as it is
    assert fit_plate_format(personalised, decode_ctc(personalised), PLATE_FORMATS, 0.1) == (
        decode_ctc(personalised),
        "EU",
    )
    word = _read("KNIGHT", {})
    assert fit_plate_format(word, decode_ctc(word), PLATE_FORMATS, 0.1) == (decode_ctc(word), None)


def test_format_fitting_picks_the_most_likely_format() -> None:
    # GB (LLDDLLL) needs one swap (I -> 1), FR/IT (LLDDDLL) two (I -> 1, O -> 0): the likelier fit wins.
    probs = _read("ABI2OCD", {2: ("1", 0.3), 4: ("0", 0.2)})
    plate, name = fit_plate_format(probs, decode_ctc(probs), PLATE_FORMATS, 0.1)
    assert (plate.text, name) == ("AB12OCD", "GB")


def _spelled(text: str, confidence: float) -> np.ndarray:
    """Recogniser output (32 columns) spelling `text` with every character at `confidence`."""
    columns = [c for code in encode_text(text) for c in (code, 0)]
    return _probs(columns + [0] * (32 - len(columns)), confidence)


def test_low_scoring_detections_stand_only_when_their_read_verifies_them() -> None:
    settings = PipelineSettings()  # outright at 0.35; 0.15-0.35 needs a read >= 0.8 in a plate format
    box = (10.0, 10.0, 90.0, 30.0)
    cases = [  # (detector score, text, per-character confidence, kept?)
        (0.6, "X7QQ9", 0.5, True),  # the detector is sure: kept whatever is read
        (0.2, "AB12CDE", 0.99, True),  # unsure detector, confident GB read: a plate
        (0.2, "AB12CDE", 0.9, False),  # 0.9 per character is 0.48 for the plate: not verified
        (0.2, "X7QQ9", 0.99, True),  # confident and plate-like (letters and digits): the EU fallback
        (0.2, "PARKING", 0.99, False),  # confident, but no plate format: a sign, a word...
    ]
    detections = [[Detection(box, score)] for score, *_ in cases]
    probs = np.stack([_spelled(text, confidence) for _, text, confidence, _ in cases])
    reads = assemble_reads(detections, probs, settings)
    assert [bool(frame) for frame in reads] == [kept for *_, kept in cases]
    with pytest.raises(ValueError, match="must not exceed"):
        PipelineSettings(detection_threshold=0.3, verified_detection_threshold=0.4)
