"""Conversions between anpr.v1 messages and the domain types: the only code that knows both."""

from __future__ import annotations

import time

from anpr.api.v1 import anpr_pb2
from anpr.contract import ModelVersion
from anpr.domain import FrameImage, FrameOutcome, PixelFormat, PlateRead, RawPixels

PIXEL_FORMATS = {anpr_pb2.PIXEL_FORMAT_GRAY8: PixelFormat.GRAY8, anpr_pb2.PIXEL_FORMAT_RGB8: PixelFormat.RGB8}


def frame_image(frame: anpr_pb2.Frame) -> FrameImage | None:
    """The image a Frame carries (encoded bytes or raw pixels), or None when it carries none."""
    kind = frame.WhichOneof("image")
    if kind == "encoded":
        return frame.encoded
    if kind == "raw":
        raw = frame.raw
        return RawPixels(raw.pixels, raw.width, raw.height, PIXEL_FORMATS.get(raw.format))
    return None


def plate_read_message(read: PlateRead) -> anpr_pb2.PlateRead:
    x1, y1, x2, y2 = read.box
    return anpr_pb2.PlateRead(
        text=read.text,
        confidence=read.confidence,
        char_confidences=read.char_confidences,
        box=anpr_pb2.BoundingBox(x1=x1, y1=y1, x2=x2, y2=y2),
        detection_score=read.detection_score,
        plate_format=read.plate_format or "",
        format_valid=read.plate_format is not None,
    )


def frame_result(
    camera_id: str,
    sequence: int,
    outcome: FrameOutcome,
    received_at: float,
    model_versions: tuple[ModelVersion, ModelVersion],
) -> anpr_pb2.FrameResult:
    detector, recogniser = model_versions
    return anpr_pb2.FrameResult(
        camera_id=camera_id,
        sequence=sequence,
        status=anpr_pb2.FrameStatus.Value(outcome.status.name),
        reason=outcome.reason,
        reads=[plate_read_message(read) for read in outcome.reads],
        model_versions=anpr_pb2.ModelVersions(detector=str(detector), recogniser=str(recogniser)),
        timings=anpr_pb2.Timings(
            decode_ms=outcome.decode_ms,
            queue_ms=outcome.queue_ms,
            inference_ms=outcome.inference_ms,
            total_ms=(time.monotonic() - received_at) * 1000.0,
        ),
    )
