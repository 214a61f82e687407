"""Frame validation and decoding (JPEG, PNG, raw GRAY8/RGB8) with size limits.

Validation runs on receipt, on the event loop, so it must cost the same whatever the bytes say: the
image header is read by a parser with a fixed bound on the work it does (a JPEG's segments before
its frame header, a PNG's first chunk), never by a general-purpose library (PIL walked 2.1 million
empty JPEG comments for 4.4 s). Decoding runs in a worker thread, strictly: a JPEG that libjpeg-turbo
can only finish by inventing pixels (cut short, even behind a forged end marker) is refused, not
painted grey. Every failure is an `InvalidFrame` whose reason goes back to the sender in an INVALID
result; nothing here raises anything else.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np
import simplejpeg
from pydantic import BaseModel, Field

from anpr.domain import FrameImage, InvalidFrame, PixelFormat, RawPixels, Reason

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Real camera JPEGs carry a dozen or two segments before their frame header (APPn, DQT, DHT) and up to
# about ten scans (progressive); more is refused, so neither the header check nor libjpeg's decode can
# be made to loop over millions of them.
MAX_JPEG_SEGMENTS_BEFORE_FRAME = 64
MAX_JPEG_SCANS = 64
MAX_JPEG_FILL_BYTES = 16
# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic), not DHT
# (C4), JPG (C8) or DAC (CC).
JPEG_FRAME_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


class DecodeLimits(BaseModel):
    """What a single frame may be; part of the server's settings."""

    model_config = {"extra": "forbid", "frozen": True}

    max_encoded_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest JPEG or PNG")
    max_raw_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest raw frame (4K grey, 1080p RGB fit)")
    max_pixels: int = Field(4096 * 4096, ge=64 * 64, description="width x height, checked before decoding")
    min_side: int = Field(32, ge=1, description="images smaller than this on a side are INVALID")

    @property
    def largest_message_bytes(self) -> int:
        """The transport's receive limit: the largest valid frame and room for its other fields."""
        return max(self.max_encoded_bytes, self.max_raw_bytes) + 64 * 1024


def check_shape(width: int, height: int, limits: DecodeLimits) -> None:
    if width < limits.min_side or height < limits.min_side:
        raise InvalidFrame(
            f"image {width}x{height} is smaller than {limits.min_side} pixels on a side", Reason.TOO_SMALL
        )
    if width * height > limits.max_pixels:
        raise InvalidFrame(f"image {width}x{height} exceeds the limit of {limits.max_pixels} pixels", Reason.TOO_LARGE)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, reading at most `MAX_JPEG_SEGMENTS_BEFORE_FRAME`
    segment headers: constant work whatever the file holds. Raises InvalidFrame."""
    position = 2  # after SOI
    for _ in range(MAX_JPEG_SEGMENTS_BEFORE_FRAME):
        fill = 0
        while position < len(data) and data[position] == 0xFF and fill <= MAX_JPEG_FILL_BYTES:
            position += 1
            fill += 1
        if fill == 0 or fill > MAX_JPEG_FILL_BYTES or position >= len(data):
            raise InvalidFrame("corrupt image header: no JPEG frame header", Reason.CORRUPT)
        marker = data[position]
        position += 1
        if marker in JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):  # end of image or a scan before any frame header
            raise InvalidFrame("corrupt image header: JPEG scan before its frame header", Reason.CORRUPT)
        if position + 2 > len(data):
            raise InvalidFrame("corrupt image header: JPEG segment cut short", Reason.CORRUPT)
        (length,) = struct.unpack_from(">H", data, position)
        if length < 2:
            raise InvalidFrame("corrupt image header: JPEG segment of impossible length", Reason.CORRUPT)
        if marker in JPEG_FRAME_MARKERS:
            if position + 7 > len(data):
                raise InvalidFrame("corrupt image header: JPEG frame header cut short", Reason.CORRUPT)
            height, width = struct.unpack_from(">HH", data, position + 3)
            return width, height
        position += length
    raise InvalidFrame(
        f"JPEG has more than {MAX_JPEG_SEGMENTS_BEFORE_FRAME} segments before its frame header", Reason.CORRUPT
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR, which the format requires to be the first chunk. Raises
    InvalidFrame."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidFrame("corrupt image header: PNG does not start with its IHDR chunk", Reason.CORRUPT)
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def encoded_size(data: bytes) -> tuple[int, int]:
    """(width, height) of JPEG or PNG bytes from their header (bounded work); raises InvalidFrame."""
    if data.startswith(JPEG_MAGIC):
        return jpeg_size(data)
    if data.startswith(PNG_MAGIC):
        return png_size(data)
    raise InvalidFrame("image is neither JPEG nor PNG", Reason.UNSUPPORTED_FORMAT)


def _check_encoded(data: bytes, limits: DecodeLimits) -> None:
    if not data:
        raise InvalidFrame("empty image", Reason.EMPTY)
    if len(data) > limits.max_encoded_bytes:
        raise InvalidFrame(
            f"encoded image of {len(data)} bytes exceeds the limit of {limits.max_encoded_bytes}", Reason.TOO_LARGE
        )
    # libjpeg "decodes" a cut-off file by painting the missing part grey: refuse it up front (the strict
    # decode also refuses one whose end marker was forged). Zero padding after it is allowed.
    if data.startswith(JPEG_MAGIC) and not (
        data.endswith(b"\xff\xd9") or data[-4096:].rstrip(b"\0").endswith(b"\xff\xd9")
    ):
        raise InvalidFrame("corrupt image data: truncated JPEG (no end-of-image marker)", Reason.CORRUPT)
    check_shape(*encoded_size(data), limits)


def _check_raw(raw: RawPixels, limits: DecodeLimits) -> None:
    if raw.format is None:
        raise InvalidFrame("raw image needs format GRAY8 or RGB8", Reason.UNSUPPORTED_FORMAT)
    if len(raw.pixels) > limits.max_raw_bytes:
        raise InvalidFrame(
            f"raw image of {len(raw.pixels)} bytes exceeds the limit of {limits.max_raw_bytes}", Reason.TOO_LARGE
        )
    check_shape(raw.width, raw.height, limits)
    channels = raw.format.value
    expected = raw.width * raw.height * channels
    if len(raw.pixels) != expected:
        raise InvalidFrame(
            f"raw image {raw.width}x{raw.height}x{channels} needs {expected} bytes, got {len(raw.pixels)}",
            Reason.WRONG_RAW_SIZE,
        )


def validate_image(image: FrameImage | None, limits: DecodeLimits) -> None:
    """Cheap checks from the sizes and the image header alone; raises InvalidFrame with a reason.

    Run on receipt, so bad frames are answered at once; the pixels are decoded later, only for
    frames that win a place in a batch (under overload most frames are dropped before that).
    """
    if image is None:
        raise InvalidFrame("frame has no image", Reason.NO_IMAGE)
    if isinstance(image, RawPixels):
        _check_raw(image, limits)
    else:
        _check_encoded(image, limits)


def decode_encoded(data: bytes) -> np.ndarray:
    """Grey (H, W) pixels of JPEG or PNG bytes; raises InvalidFrame if they do not decode cleanly.

    Decoded straight to grey: for a JPEG that is its own luminance channel, no colour conversion
    (1.6-2.5x faster than decoding colour at 720p). Both models read grey, and version 2 was trained on
    exactly these pixels (synthetic and real frames pass through this function); version 1 was trained
    on colour-then-grey pixels, which differ where colours clip. JPEGs go through libjpeg-turbo in
    strict mode (simplejpeg): any corrupt-data warning, such as a premature end, refuses the frame.
    The pixels are the same as OpenCV's grey decode (the same library; checked on every real photo).
    """
    if data.startswith(JPEG_MAGIC):
        if data.count(b"\xff\xda") > MAX_JPEG_SCANS:  # entropy-coded data never holds FF DA
            raise InvalidFrame(f"JPEG has more than {MAX_JPEG_SCANS} scans", Reason.CORRUPT)
        try:
            return simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True)[..., 0]
        except ValueError as error:
            raise InvalidFrame(f"corrupt image data: {error}", Reason.CORRUPT) from None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if image is None:
        raise InvalidFrame("corrupt image data: decoding failed", Reason.CORRUPT)
    return image


def decode_image(image: FrameImage) -> np.ndarray:
    """Grey uint8 (H, W) pixels of a validated frame (RGB raw frames are turned grey here, once, with
    the luminance weights a JPEG's own grey channel has); raises InvalidFrame if corrupt."""
    if isinstance(image, RawPixels):
        pixels = np.frombuffer(image.pixels, np.uint8)
        if image.format is PixelFormat.GRAY8:
            return pixels.reshape(image.height, image.width)
        return cv2.cvtColor(pixels.reshape(image.height, image.width, 3), cv2.COLOR_RGB2GRAY)
    return decode_encoded(image)
