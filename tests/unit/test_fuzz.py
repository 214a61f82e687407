"""Property-based fuzzing (hypothesis) of what a client controls: message bytes and image bytes.

The properties: nothing the input holds makes validation or decoding raise anything but InvalidFrame,
a decoded image always has the size its header promised within the limits, and a message that does
not parse is a MalformedMessage, never an exception. Each test prints how its cases came out.
"""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anpr.api.messages import frame_image
from anpr.api.servicer import MalformedMessage, _tolerant
from anpr.api.v1 import anpr_pb2
from anpr.domain import InvalidFrame
from anpr.ingest.camera_ids import check_camera_id
from anpr.ingest.decode import DecodeLimits, decode_image, validate_image

LIMITS = DecodeLimits(max_pixels=2048 * 2048)
CASES = 2000
FUZZ = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def _image(width: int, height: int, extension: str) -> bytes:
    """A small picture with edges (a plate-like bar on a gradient), so decoding has real work to do."""
    pixels = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    pixels[height // 3 : 2 * height // 3, width // 4 : 3 * width // 4] = 240
    return cv2.imencode(extension, pixels)[1].tobytes()


JPEG = _image(96, 64, ".jpg")
PNG = _image(96, 64, ".png")


def _outcome(image: bytes | None) -> str:
    """What the server would do with these bytes: 'decoded' or the InvalidFrame's code."""
    try:
        validate_image(image, LIMITS)
        assert image is not None
        pixels = decode_image(image)
    except InvalidFrame as error:
        return f"invalid:{error.code}"
    assert pixels.dtype == np.uint8 and pixels.ndim == 2
    assert pixels.shape[0] * pixels.shape[1] <= LIMITS.max_pixels
    assert min(pixels.shape) >= LIMITS.min_side
    return "decoded"


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """An image with bytes flipped, cut, repeated or inserted: what a broken camera or an attacker sends."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 32))] * draw(st.integers(1, 50))
        else:
            data = data[:at]
    return bytes(data)


def _run(test, counts: Counter, name: str) -> None:
    test()
    print(f"{name}: {sum(counts.values())} cases: {dict(counts.most_common())}")
    assert sum(counts.values()) >= CASES


def test_mutated_jpegs_are_decoded_or_invalid() -> None:
    counts: Counter = Counter()

    @FUZZ
    @given(mutated(JPEG))
    @example(JPEG)  # the untouched image, so a decoded case always happens
    def case(data: bytes) -> None:
        counts[_outcome(data)] += 1

    _run(case, counts, "mutated JPEGs")
    assert counts["decoded"] and len(counts) > 2  # both kinds really happened


def test_mutated_pngs_are_decoded_or_invalid() -> None:
    counts: Counter = Counter()

    @FUZZ
    @given(mutated(PNG))
    @example(PNG)  # most mutations break a chunk's CRC: the untouched image makes sure one decodes
    def case(data: bytes) -> None:
        counts[_outcome(data)] += 1

    _run(case, counts, "mutated PNGs")
    assert counts["decoded"] and len(counts) > 2


def test_arbitrary_bytes_behind_an_image_signature_are_invalid_or_decoded() -> None:
    counts: Counter = Counter()

    @FUZZ
    @given(st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b""]), st.binary(max_size=2048))
    def case(magic: bytes, tail: bytes) -> None:
        counts[_outcome(magic + tail)] += 1

    _run(case, counts, "bytes behind a signature")


def test_arbitrary_message_bytes_parse_or_are_malformed_never_raise() -> None:
    counts: Counter = Counter()
    parse = _tolerant(anpr_pb2.Frame.FromString)
    valid = anpr_pb2.Frame(camera_id="cam-1", sequence=3, encoded=JPEG).SerializeToString()

    @FUZZ
    @given(st.one_of(st.binary(max_size=512), mutated(valid)))
    def case(data: bytes) -> None:
        message = parse(data)
        if isinstance(message, MalformedMessage):
            counts["malformed"] += 1
            return
        assert isinstance(message, anpr_pb2.Frame)
        try:
            check_camera_id(message.camera_id, 128)
            counts[_outcome(frame_image(message)) if message.WhichOneof("image") != "raw" else "raw"] += 1
        except InvalidFrame as error:
            counts[f"invalid:{error.code}"] += 1

    _run(case, counts, "message bytes")
    assert counts["malformed"] and len(counts) > 2


CAMERA_IDS = st.one_of(st.from_regex(r"[a-z0-9/_-]{1,40}", fullmatch=True), st.text(max_size=200))


def test_structured_frames_from_any_camera_with_any_raw_shape_are_checked_without_surprises() -> None:
    counts: Counter = Counter()

    @FUZZ
    @given(CAMERA_IDS, st.integers(0, 2**64 - 1), st.integers(0, 600), st.integers(0, 600), st.data())
    def case(camera_id: str, sequence: int, width: int, height: int, data: st.DataObject) -> None:
        pixel_format = data.draw(st.sampled_from([0, 1, 2, 7]))
        exact = width * height * (3 if pixel_format == 2 else 1)
        size = data.draw(st.one_of(st.just(exact), st.integers(0, 400_000)))
        raw = anpr_pb2.RawImage(pixels=b"\x80" * size, width=width, height=height, format=pixel_format)
        message = anpr_pb2.Frame(camera_id=camera_id, sequence=sequence, raw=raw)
        try:
            check_camera_id(message.camera_id, 128)
            image = frame_image(message)
            validate_image(image, LIMITS)
            assert image is not None
            pixels = decode_image(image)
            assert pixels.shape == (height, width)
            counts["decoded"] += 1
        except InvalidFrame as error:
            counts[f"invalid:{error.code}"] += 1

    _run(case, counts, "structured frames")
    assert counts["decoded"] and len(counts) > 3
