"""DALI pre-processing of the Triton-side pipeline (its CPU operators), against the front end's."""

from __future__ import annotations

import io

import numpy as np
import pytest

from anpr.contract import DETECTOR_INPUT_HW
from anpr.domain import InvalidFrame, Reason
from anpr.ingest.decode import decode_encoded
from anpr.vision.dali_letterbox import DaliLetterbox, Prepared
from anpr.vision.letterbox import letterbox
from tests.conftest import HOLD_OUT_SEED


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    from anpr_synth import generate_frame

    sizes = [(1280, 720), (1920, 1080), (800, 600), (640, 360), (333, 517)]
    return [generate_frame(HOLD_OUT_SEED + 9, k, frame_size=size).jpeg for k, size in enumerate(sizes)]


def _bogus_huffman_table(jpeg: bytes) -> bytes:
    """The header still checks (size, markers); libjpeg refuses the table when it decodes."""
    table = jpeg.index(b"\xff\xc4")
    return jpeg[: table + 5] + b"\xff" * 16 + jpeg[table + 21 :]


def test_opencv_resampling_gives_the_front_ends_pixels(jpegs: list[bytes]) -> None:
    prepared = DaliLetterbox(8, resample="opencv").prepare(jpegs)
    for data, item in zip(jpegs, prepared):
        assert isinstance(item, Prepared)
        grey = decode_encoded(data)
        expected, transform = letterbox(grey, DETECTOR_INPUT_HW)
        np.testing.assert_array_equal(item.grey, grey)  # DALI's grey decode is libjpeg-turbo's luminance
        np.testing.assert_array_equal(item.letterboxed, expected)
        assert item.transform == transform


def test_dali_resampling_keeps_the_geometry_and_nearly_the_pixels(jpegs: list[bytes]) -> None:
    prepared = DaliLetterbox(8, resample="dali").prepare(jpegs)
    for data, item in zip(jpegs, prepared):
        assert isinstance(item, Prepared)
        expected, transform = letterbox(decode_encoded(data), DETECTOR_INPUT_HW)
        assert item.transform == transform and item.letterboxed.shape == DETECTOR_INPUT_HW
        pad_y, pad_x = int(transform.pad_y), int(transform.pad_x)
        assert (item.letterboxed[:pad_y] == 114).all() and (item.letterboxed[:, :pad_x] == 114).all()
        difference = np.abs(item.letterboxed.astype(int) - expected)
        assert difference.mean() < 2.0  # another filter, not another picture


@pytest.mark.parametrize("resample", ["opencv", "dali"])
def test_a_frame_that_does_not_decode_takes_only_itself_down(jpegs: list[bytes], resample: str) -> None:
    letterboxer = DaliLetterbox(4, resample=resample)  # type: ignore[arg-type]
    frames = [jpegs[0], _bogus_huffman_table(jpegs[1]), b"GIF89a not a plate", jpegs[2], *jpegs[3:] * 2]
    prepared = letterboxer.prepare(frames)  # more frames than one DALI batch: chunked
    assert len(prepared) == len(frames)
    assert isinstance(prepared[1], InvalidFrame) and prepared[1].code is Reason.CORRUPT
    assert isinstance(prepared[2], InvalidFrame) and prepared[2].code is Reason.UNSUPPORTED_FORMAT
    assert all(isinstance(item, Prepared) for k, item in enumerate(prepared) if k not in (1, 2))
    again = letterboxer.prepare(jpegs[:2])  # the pipeline was rebuilt after the failure
    assert all(isinstance(item, Prepared) for item in again)


def test_exif_orientation_is_ignored_as_the_front_end_ignores_it(jpegs: list[bytes]) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(jpegs[2]))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), quality=90)
    (item,) = DaliLetterbox(1).prepare([buffer.getvalue()])
    assert isinstance(item, Prepared)
    assert item.grey.shape == decode_encoded(buffer.getvalue()).shape == (600, 800)


def test_a_requests_parameters_override_the_front_ends_defaults() -> None:
    from anpr.inference.pipeline import PipelineSettings
    from anpr.inference.triton_pipeline_model import request_of

    defaults = PipelineSettings().pipeline_request()
    asked = request_of('{"detector_version": "1", "nms_iou": 0.5, "resample": "dali", "unknown": 3}', defaults)
    assert (asked.detector_version, asked.nms_iou, asked.resample) == (1, 0.5, "dali")
    assert asked.recogniser_version == defaults.recogniser_version and asked.max_plates == defaults.max_plates
    assert request_of("", defaults) == defaults
