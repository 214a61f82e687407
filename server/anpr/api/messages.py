"""Conversions between anpr.v1 messages and the domain types: the only code that knows both."""

from __future__ import annotations

import functools
import time

from google.protobuf.timestamp_pb2 import Timestamp

from anpr.api.v1 import anpr_pb2
from anpr.contract import ModelVersion
from anpr.domain import FrameImage, FrameOutcome, FrameStatus, PixelFormat, PlateRead, RawPixels
from anpr.vehicles.records import CaptureRecord, HotlistHit

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


def captured_at(frame: anpr_pb2.Frame) -> float | None:
    """The frame's capture time in Unix seconds, or None when it carries none."""
    return frame.captured_at.ToNanoseconds() / 1e9 if frame.HasField("captured_at") else None


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


@functools.lru_cache(maxsize=16)
def _versions(model_versions: tuple[ModelVersion, ModelVersion]) -> anpr_pb2.ModelVersions:
    """Shared, never changed: a message given to another message's constructor is copied into it."""
    detector, recogniser = model_versions
    return anpr_pb2.ModelVersions(detector=str(detector), recogniser=str(recogniser))


_STATUS_VALUES = {status: anpr_pb2.FrameStatus.Value(status.name) for status in FrameStatus}


def capture_record_message(record: CaptureRecord, with_images: bool) -> anpr_pb2.VehicleEvent:
    return anpr_pb2.VehicleEvent(
        capture=anpr_pb2.CaptureRecord(
            pass_id=record.pass_id,
            camera_id=record.camera_id,
            text=record.text,
            confidence=record.confidence,
            plate_format=record.plate_format or "",
            first_seen=_timestamp(record.first_seen),
            last_seen=_timestamp(record.last_seen),
            frames=record.frames,
            best_sequence=record.best_sequence,
            direction=anpr_pb2.Direction.Value(f"DIRECTION_{record.direction.name}"),
            model_versions=_versions(record.model_versions),
            plate_patch=(record.plate_patch or b"") if with_images else b"",
            overview=(record.overview or b"") if with_images else b"",
        )
    )


def hotlist_hit_message(hit: HotlistHit, with_images: bool) -> anpr_pb2.VehicleEvent:
    entry = hit.entry
    return anpr_pb2.VehicleEvent(
        hit=anpr_pb2.HotlistHit(
            pass_id=hit.pass_id,
            camera_id=hit.camera_id,
            sequence=hit.sequence,
            entry=anpr_pb2.HotlistEntry(
                plate=entry.plate, category=entry.category, priority=entry.priority, note=entry.note
            ),
            match=anpr_pb2.MatchKind.Value(f"MATCH_{hit.kind.name}"),
            read=plate_read_message(hit.read),
            captured_at=_timestamp(hit.captured_at),
            plate_patch=(hit.plate_patch or b"") if with_images else b"",
        )
    )


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
    # Every frame's answer is built here: fields are set in place, the empty ones not at all (half the
    # cost of building it from keyword arguments and sub-messages).
    result = anpr_pb2.FrameResult(camera_id=camera_id, sequence=sequence, status=_STATUS_VALUES[outcome.status])
    if outcome.reason:
        result.reason = outcome.reason
    if outcome.reads:
        result.reads.extend(plate_read_message(read) for read in outcome.reads)
    result.model_versions.CopyFrom(_versions(model_versions))
    timings = result.timings
    timings.decode_ms = outcome.decode_ms
    timings.queue_ms = outcome.queue_ms
    timings.inference_ms = outcome.inference_ms
    timings.total_ms = (time.monotonic() - received_at) * 1000.0
    return result
