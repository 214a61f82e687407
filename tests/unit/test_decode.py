"""Frame validation and decoding: every bad input is an InvalidFrame with a reason."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

from anpr.api.messages import frame_image
from anpr.api.v1 import anpr_pb2
from anpr.domain import FrameImage, InvalidFrame, PixelFormat, RawPixels, Reason
from anpr.ingest.camera_ids import check_camera_id
from anpr.ingest.decode import (
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS_BEFORE_FRAME,
    DecodeLimits,
    decode_image,
    jpeg_size,
    png_size,
    validate_image,
)

LIMITS = DecodeLimits()


def decode(image: FrameImage | None, limits: DecodeLimits = LIMITS) -> np.ndarray:
    """Validates, then decodes: what the server does on receipt and later in a worker thread."""
    validate_image(image, limits)
    assert image is not None
    return decode_image(image)


def _jpeg(width: int, height: int) -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_jpeg_png_and_raw_decode_to_grey_of_the_right_shape() -> None:
    assert decode(_jpeg(640, 360)).shape == (360, 640)
    png = cv2.imencode(".png", np.zeros((50, 60, 3), np.uint8))[1].tobytes()
    assert decode(png).shape == (50, 60)
    assert decode(RawPixels(bytes(48 * 40), 48, 40, PixelFormat.GRAY8)).shape == (40, 48)
    rgb = np.zeros((40, 48, 3), np.uint8)
    rgb[..., 0] = 255  # pure red: 0.299 * 255
    grey = decode(RawPixels(rgb.tobytes(), 48, 40, PixelFormat.RGB8))
    assert grey.shape == (40, 48) and int(grey[0, 0]) == 76


def test_encoded_frames_decode_to_their_own_luminance_the_models_were_trained_on() -> None:
    """A JPEG's own grey channel, not colour-then-grey: where colours clip (yellow plates, red cars) those
    differ, and version 2 was trained on the former (every training frame passes through this decoder)."""
    blocks = np.random.default_rng(1).choice([0, 255], size=(9, 16, 3)).astype(np.uint8)
    image = cv2.resize(blocks, (640, 360), interpolation=cv2.INTER_NEAREST)
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    luminance = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(decode(encoded), luminance)
    colour = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
    assert not np.array_equal(decode(encoded), cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY))  # they do differ


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (anpr_pb2.Frame(camera_id="c"), Reason.NO_IMAGE),
        (anpr_pb2.Frame(camera_id="c", encoded=b""), Reason.EMPTY),
        (anpr_pb2.Frame(camera_id="c", encoded=b"GIF89a...."), Reason.UNSUPPORTED_FORMAT),
        (anpr_pb2.Frame(camera_id="c", encoded=_jpeg(640, 360)[:300]), Reason.CORRUPT),
        (anpr_pb2.Frame(camera_id="c", encoded=_jpeg(16, 16)), Reason.TOO_SMALL),
        (
            anpr_pb2.Frame(
                camera_id="c",
                raw=anpr_pb2.RawImage(pixels=bytes(10), width=48, height=40, format=anpr_pb2.PIXEL_FORMAT_GRAY8),
            ),
            Reason.WRONG_RAW_SIZE,
        ),
        (
            anpr_pb2.Frame(camera_id="c", raw=anpr_pb2.RawImage(pixels=bytes(1200), width=40, height=30)),
            Reason.UNSUPPORTED_FORMAT,
        ),
    ],
)
def test_bad_frames_are_invalid_with_a_reason_code(frame: anpr_pb2.Frame, code: Reason) -> None:
    with pytest.raises(InvalidFrame) as invalid:
        decode(frame_image(frame))
    assert invalid.value.code is code and str(invalid.value)


def test_size_limits_are_checked_before_decoding() -> None:
    small = DecodeLimits(max_encoded_bytes=2048, max_pixels=100 * 100)
    with pytest.raises(InvalidFrame, match="exceeds the limit of 2048"):
        decode(_jpeg(640, 360), small)
    # A 20000x20000 PNG header: refused from the header alone, never decoded.
    tiny_big = DecodeLimits(max_pixels=4096 * 4096)
    header = cv2.imencode(".png", np.zeros((40, 40), np.uint8))[1].tobytes()
    ihdr = header.index(b"IHDR")
    body = (20000).to_bytes(4, "big") * 2 + header[ihdr + 12 : ihdr + 17]
    crc = zlib.crc32(b"IHDR" + body).to_bytes(4, "big")
    forged = header[: ihdr + 4] + body + crc + header[ihdr + 21 :]
    with pytest.raises(InvalidFrame) as refused:
        decode(forged, tiny_big)
    assert refused.value.code is Reason.TOO_LARGE


def _with_segments(jpeg: bytes, segment: bytes, count: int) -> bytes:
    """The JPEG with `count` copies of `segment` inserted after its start-of-image marker."""
    return jpeg[:2] + segment * count + jpeg[2:]


def test_the_header_check_reads_a_bounded_number_of_jpeg_segments() -> None:
    """2 million empty comments took PIL 4.4 s on the event loop; the check stops after 64 segments."""
    ordinary = _with_segments(_jpeg(64, 48), b"\xff\xfe\x00\x12" + b"a camera comment", 20)
    assert validate_image(ordinary, LIMITS) is None and decode(ordinary).shape == (48, 64)
    crafted = _with_segments(_jpeg(64, 48), b"\xff\xfe\x00\x02", 2_000_000 - 1000)
    with pytest.raises(InvalidFrame) as refused:
        validate_image(crafted, LIMITS)
    assert refused.value.code is Reason.CORRUPT and "segments" in str(refused.value)
    assert jpeg_size(_with_segments(_jpeg(64, 48), b"\xff\xfe\x00\x02", MAX_JPEG_SEGMENTS_BEFORE_FRAME - 12)) == (
        64,
        48,
    )


def test_a_png_header_is_read_from_its_first_chunk_whatever_follows() -> None:
    """A PNG of 700,000 unknown chunks took PIL 4.9 s to open (690,000 fit the 8 MiB limit); its size
    is in the first chunk."""
    png = cv2.imencode(".png", np.zeros((40, 60), np.uint8))[1].tobytes()
    chunk = (0).to_bytes(4, "big") + b"abCd" + zlib.crc32(b"abCd").to_bytes(4, "big")
    many = png[:33] + chunk * 690_000 + png[33:]
    assert png_size(many) == (60, 40)
    assert decode(many).shape == (40, 60)  # libpng walks them in C, in a worker thread
    with pytest.raises(InvalidFrame) as refused:
        validate_image(png[:8] + chunk + png[8:], LIMITS)  # IHDR must come first
    assert refused.value.code is Reason.CORRUPT


def test_a_truncated_jpeg_with_a_forged_end_marker_is_invalid_not_grey() -> None:
    """libjpeg paints what is missing grey; strict decoding refuses it instead."""
    jpeg = _jpeg(640, 360)
    forged = jpeg[: len(jpeg) // 2] + b"\xff\xd9"
    validate_image(forged, LIMITS)  # its header and end marker look fine
    with pytest.raises(InvalidFrame) as refused:
        decode_image(forged)
    assert refused.value.code is Reason.CORRUPT


def test_a_jpeg_with_too_many_scans_is_refused_before_decoding() -> None:
    jpeg = _jpeg(64, 48)
    scans = jpeg[:-2] + b"\xff\xda\x00\x02" * (MAX_JPEG_SCANS + 1) + jpeg[-2:]
    with pytest.raises(InvalidFrame) as refused:
        decode_image(scans)
    assert refused.value.code is Reason.CORRUPT and "scans" in str(refused.value)


def test_raw_frames_have_a_byte_limit_of_their_own() -> None:
    limits = DecodeLimits(max_raw_bytes=64 * 64)
    assert decode(RawPixels(bytes(64 * 64), 64, 64, PixelFormat.GRAY8), limits).shape == (64, 64)
    with pytest.raises(InvalidFrame) as refused:
        decode(RawPixels(bytes(64 * 64 * 3), 64, 64, PixelFormat.RGB8), limits)
    assert refused.value.code is Reason.TOO_LARGE
    assert limits.largest_message_bytes == LIMITS.max_encoded_bytes + 64 * 1024


@pytest.mark.parametrize(
    ("camera_id", "code"),
    [
        ("", Reason.MISSING_CAMERA_ID),
        ("x" * 129, Reason.BAD_CAMERA_ID),
        ("gate 3", Reason.BAD_CAMERA_ID),
        ("cam\n1", Reason.BAD_CAMERA_ID),
        ("caméra", Reason.BAD_CAMERA_ID),
    ],
)
def test_camera_ids_are_short_and_plain(camera_id: str, code: Reason) -> None:
    with pytest.raises(InvalidFrame) as refused:
        check_camera_id(camera_id, 128)
    assert refused.value.code is code


def test_ordinary_camera_ids_pass() -> None:
    for camera_id in ("gate-3", "london/a40/cam_12", "site7:north", "ingest@depot.example", "x" * 128):
        check_camera_id(camera_id, 128)
