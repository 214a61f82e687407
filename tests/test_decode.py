"""Frame validation and decoding: every bad input is an InvalidFrame with a reason."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

from anpr.api.v1 import anpr_pb2
from anpr.ingest.decode import DecodeLimits, InvalidFrame, decode_frame
from anpr.vision.letterbox import to_grey

LIMITS = DecodeLimits()


def _jpeg(width: int, height: int) -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_jpeg_png_and_raw_decode_to_the_right_shape() -> None:
    assert decode_frame(anpr_pb2.Frame(camera_id="c", encoded=_jpeg(640, 360)), LIMITS).shape == (360, 640)
    png = cv2.imencode(".png", np.zeros((50, 60, 3), np.uint8))[1].tobytes()
    assert decode_frame(anpr_pb2.Frame(camera_id="c", encoded=png), LIMITS).shape == (50, 60)
    raw = anpr_pb2.RawImage(pixels=bytes(48 * 40), width=48, height=40, format=anpr_pb2.PIXEL_FORMAT_GRAY8)
    assert decode_frame(anpr_pb2.Frame(camera_id="c", raw=raw), LIMITS).shape == (40, 48)
    rgb = anpr_pb2.RawImage(pixels=bytes(48 * 40 * 3), width=48, height=40, format=anpr_pb2.PIXEL_FORMAT_RGB8)
    assert decode_frame(anpr_pb2.Frame(camera_id="c", raw=rgb), LIMITS).shape == (40, 48, 3)


def test_encoded_frames_decode_to_the_grey_the_models_were_trained_on() -> None:
    """Colour decode, then grey (as the training frames are made), not the JPEG's own luminance: on
    saturated colours (yellow plates, red cars) those differ, and the models learnt the former."""
    blocks = np.random.default_rng(1).choice([0, 255], size=(9, 16, 3)).astype(np.uint8)
    image = cv2.resize(blocks, (640, 360), interpolation=cv2.INTER_NEAREST)
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    decoded = decode_frame(anpr_pb2.Frame(camera_id="c", encoded=encoded), LIMITS)
    colour = cv2.cvtColor(cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, to_grey(colour))
    luminance = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert not np.array_equal(decoded, luminance)  # the shortcut this guards against


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (anpr_pb2.Frame(encoded=_jpeg(64, 64)), "camera_id is required"),
        (anpr_pb2.Frame(camera_id="c"), "frame has no image"),
        (anpr_pb2.Frame(camera_id="c", encoded=b""), "empty image"),
        (anpr_pb2.Frame(camera_id="c", encoded=b"GIF89a...."), "neither JPEG nor PNG"),
        (anpr_pb2.Frame(camera_id="c", encoded=_jpeg(640, 360)[:300]), "corrupt image"),
        (anpr_pb2.Frame(camera_id="c", encoded=_jpeg(16, 16)), "smaller than 32 pixels"),
        (
            anpr_pb2.Frame(
                camera_id="c",
                raw=anpr_pb2.RawImage(pixels=bytes(10), width=48, height=40, format=anpr_pb2.PIXEL_FORMAT_GRAY8),
            ),
            "needs 1920 bytes",
        ),
        (
            anpr_pb2.Frame(camera_id="c", raw=anpr_pb2.RawImage(pixels=bytes(1200), width=40, height=30)),
            "format GRAY8 or RGB8",
        ),
    ],
)
def test_bad_frames_are_invalid_with_a_reason(frame: anpr_pb2.Frame, reason: str) -> None:
    with pytest.raises(InvalidFrame, match=reason):
        decode_frame(frame, LIMITS)


def test_size_limits_are_checked_before_decoding() -> None:
    small = DecodeLimits(max_encoded_bytes=2048, max_pixels=100 * 100)
    with pytest.raises(InvalidFrame, match="exceeds the limit of 2048"):
        decode_frame(anpr_pb2.Frame(camera_id="c", encoded=_jpeg(640, 360)), small)
    # A 20000x20000 PNG header: refused from the header alone, never decoded.
    tiny_big = DecodeLimits(max_pixels=4096 * 4096)
    header = cv2.imencode(".png", np.zeros((40, 40), np.uint8))[1].tobytes()
    ihdr = header.index(b"IHDR")
    body = (20000).to_bytes(4, "big") * 2 + header[ihdr + 12 : ihdr + 17]
    crc = zlib.crc32(b"IHDR" + body).to_bytes(4, "big")
    forged = header[: ihdr + 4] + body + crc + header[ihdr + 21 :]
    with pytest.raises(InvalidFrame, match="exceed the limit"):
        decode_frame(anpr_pb2.Frame(camera_id="c", encoded=forged), tiny_big)
