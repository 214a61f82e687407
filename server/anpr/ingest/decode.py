"""Frame validation and decoding (JPEG, PNG, raw GRAY8/RGB8) with size limits.

Validation is cheap and runs on receipt; decoding runs in a worker thread, never on the event
loop. Every failure is an `InvalidFrame` whose reason goes back to the sender in an INVALID
result; nothing here raises anything else.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from anpr.api.v1 import anpr_pb2

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHANNELS = {anpr_pb2.PIXEL_FORMAT_GRAY8: 1, anpr_pb2.PIXEL_FORMAT_RGB8: 3}


class DecodeLimits(BaseModel):
    """What a single frame may be; part of the server's settings."""

    model_config = {"extra": "forbid", "frozen": True}

    max_encoded_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(4096 * 4096, ge=64 * 64, description="width x height, checked before decoding")
    min_side: int = Field(32, ge=1, description="images smaller than this on a side are INVALID")


class InvalidFrame(ValueError):
    """A frame that cannot be used; the message is the reason sent back to the client.

    `code` is a short, fixed word for the kind of problem (a metric label; the message is not).
    """

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _check_shape(width: int, height: int, limits: DecodeLimits) -> None:
    if width < limits.min_side or height < limits.min_side:
        raise InvalidFrame(f"image {width}x{height} is smaller than {limits.min_side} pixels on a side", "too_small")
    if width * height > limits.max_pixels:
        raise InvalidFrame(f"image {width}x{height} exceeds the limit of {limits.max_pixels} pixels", "too_large")


def _check_encoded(data: bytes, limits: DecodeLimits) -> None:
    if not data:
        raise InvalidFrame("empty image", "empty")
    if len(data) > limits.max_encoded_bytes:
        raise InvalidFrame(
            f"encoded image of {len(data)} bytes exceeds the limit of {limits.max_encoded_bytes}", "too_large"
        )
    if not (data.startswith(JPEG_MAGIC) or data.startswith(PNG_MAGIC)):
        raise InvalidFrame("image is neither JPEG nor PNG", "unsupported_format")
    # libjpeg "decodes" a cut-off file by painting the missing part grey: refuse it up front.
    if data.startswith(JPEG_MAGIC) and not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        raise InvalidFrame("corrupt image data: truncated JPEG (no end-of-image marker)", "corrupt")
    try:
        with Image.open(io.BytesIO(data)) as header:  # reads the header only: no decompression bomb
            width, height = header.size
    except Image.DecompressionBombError:
        raise InvalidFrame(
            f"image dimensions exceed the limit of {limits.max_pixels} pixels (header checked before decoding)",
            "too_large",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InvalidFrame(f"corrupt image header: {error}", "corrupt") from None
    _check_shape(width, height, limits)


def _check_raw(raw: anpr_pb2.RawImage, limits: DecodeLimits) -> None:
    channels = CHANNELS.get(raw.format)
    if channels is None:
        raise InvalidFrame("raw image needs format GRAY8 or RGB8", "unsupported_format")
    _check_shape(raw.width, raw.height, limits)
    expected = raw.width * raw.height * channels
    if len(raw.pixels) != expected:
        raise InvalidFrame(
            f"raw image {raw.width}x{raw.height}x{channels} needs {expected} bytes, got {len(raw.pixels)}",
            "wrong_raw_size",
        )


def validate_frame(frame: anpr_pb2.Frame, limits: DecodeLimits) -> None:
    """Cheap checks from the message and the image header alone; raises InvalidFrame with a reason.

    Run on receipt, so bad frames are answered at once; the pixels are decoded later, only for
    frames that win a place in a batch (under overload most frames are dropped before that).
    """
    if not frame.camera_id:
        raise InvalidFrame("camera_id is required", "missing_camera_id")
    kind = frame.WhichOneof("image")
    if kind == "encoded":
        _check_encoded(frame.encoded, limits)
    elif kind == "raw":
        _check_raw(frame.raw, limits)
    else:
        raise InvalidFrame("frame has no image", "no_image")


def decode_encoded(data: bytes) -> np.ndarray:
    """Grey (H, W) pixels of JPEG or PNG bytes; raises InvalidFrame if they do not decode.

    Decoded in colour, then turned grey once (both models read grey): the same pixels as the training
    frames (`anpr_training.synth.degrade`: colour decode, then `to_grey`). Decoding straight to grey
    (`cv2.IMREAD_GRAYSCALE`) would be ~2.5x faster for 720p, but it keeps the JPEG's own luminance,
    which differs where colours clip (up to 41 levels on the hold-out frames) and cost the current
    models 0.1-0.3 points of plate accuracy: switch it together with the training data and a retrain.
    """
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise InvalidFrame("corrupt image data: decoding failed", "corrupt")
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def decode_image(frame: anpr_pb2.Frame) -> np.ndarray:
    """Pixels of a validated frame, uint8: grey (H, W) for JPEG, PNG and GRAY8 raw frames, RGB (H, W, 3)
    for RGB raw frames; raises InvalidFrame if corrupt."""
    if frame.WhichOneof("image") == "raw":
        raw = frame.raw
        pixels = np.frombuffer(raw.pixels, np.uint8)
        if raw.format == anpr_pb2.PIXEL_FORMAT_GRAY8:
            return pixels.reshape(raw.height, raw.width)
        return pixels.reshape(raw.height, raw.width, 3)
    return decode_encoded(frame.encoded)


def decode_frame(frame: anpr_pb2.Frame, limits: DecodeLimits) -> np.ndarray:
    """Validates and decodes in one step (evaluation, tests, tools)."""
    validate_frame(frame, limits)
    return decode_image(frame)
