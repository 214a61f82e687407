"""Plates composited into photographs: found where the real one is, matched to it, labelled exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from anpr.ingest.decode import decode_encoded
from anpr_synth.composite import composite_crop, composite_photo, jpeg_quality, plate_quad


def photo_with_plate(angle: float, size: tuple[int, int] = (640, 480)) -> tuple[np.ndarray, np.ndarray]:
    """A dark grey scene with a light 180x40 plate (dark text stripes) tilted by `angle` degrees."""
    w, h = size
    image = np.full((h, w), 60, np.uint8)
    quad = cv2.boxPoints(((320, 240), (180, 40), angle)).astype(np.float32)
    cv2.fillConvexPoly(image, quad.astype(np.int32), 210)
    for k in range(6):  # "characters": dark bars inside the plate
        bar = cv2.boxPoints(((250 + k * 28, 240), (10, 24), angle)).astype(np.int32)
        cv2.fillConvexPoly(image, bar, 30)
    return image, quad


def clockwise_from_top_left(quad: np.ndarray) -> np.ndarray:
    centre = quad.mean(axis=0)
    ordered = quad[np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))]
    return np.roll(ordered, -int(np.argmin(ordered.sum(axis=1))), axis=0)


def box_of(quad: np.ndarray) -> tuple[float, float, float, float]:
    return float(quad[:, 0].min()), float(quad[:, 1].min()), float(quad[:, 0].max()), float(quad[:, 1].max())


@pytest.mark.parametrize("angle", [0.0, 8.0, -12.0])
def test_the_plate_in_a_box_is_found_with_its_tilt(angle: float) -> None:
    image, truth = photo_with_plate(angle)
    quad = plate_quad(image, box_of(truth), 4.5)
    # Corners within a few pixels of the drawn plate's (a little outside: the cover must hide it), in
    # TL, TR, BR, BL order.
    assert np.abs(quad - clockwise_from_top_left(truth)).max() < 8


@pytest.mark.parametrize("quality", [40, 75, 95])
def test_jpeg_quality_is_read_from_the_quantisation_tables(quality: int) -> None:
    image = np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    assert abs(jpeg_quality(encoded) - quality) <= 2


def test_a_composited_plate_replaces_the_real_one_and_keeps_its_light() -> None:
    image, truth = photo_with_plate(5.0)
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    box = box_of(truth)
    result = composite_photo(jpeg, [box], np.random.default_rng(3))
    (plate,) = result.plates
    assert plate.box == box and 1 <= len(plate.text) <= 10
    x1, y1, x2, y2 = (int(v) for v in box)
    before, after = decode_encoded(jpeg)[y1:y2, x1:x2], result.image[y1:y2, x1:x2]
    assert not np.array_equal(before, after)  # the plate was replaced...
    assert abs(float(np.percentile(after, 92)) - float(np.percentile(before, 92))) < 30  # ...lit like the real one
    outside = np.ones(result.image.shape, bool)
    outside[y1 - 12 : y2 + 12, x1 - 12 : x2 + 12] = False
    assert np.abs(result.image[outside].astype(int) - decode_encoded(jpeg)[outside].astype(int)).mean() < 2


def test_a_composite_crop_is_a_recogniser_input_with_its_text() -> None:
    image, truth = photo_with_plate(-4.0)
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    crop, text = composite_crop(jpeg, box_of(truth), np.random.default_rng(8))
    assert crop.shape == (32, 128) and crop.dtype == np.uint8 and crop.std() > 10
    assert text.isalnum() and text == text.upper()
