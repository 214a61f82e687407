"""Conversions between the pipeline's outcomes and anpr.v1 messages."""

from __future__ import annotations

import time

from anpr.api.v1 import anpr_pb2
from anpr.inference.pipeline import PlateRead
from anpr.scheduling.dispatcher import FrameOutcome


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
    model_versions: tuple[str, str],
) -> anpr_pb2.FrameResult:
    return anpr_pb2.FrameResult(
        camera_id=camera_id,
        sequence=sequence,
        status=anpr_pb2.FrameStatus.Value(outcome.status),
        reason=outcome.reason,
        reads=[plate_read_message(read) for read in outcome.reads],
        model_versions=anpr_pb2.ModelVersions(detector=model_versions[0], recogniser=model_versions[1]),
        timings=anpr_pb2.Timings(
            decode_ms=outcome.decode_ms,
            queue_ms=outcome.queue_ms,
            inference_ms=outcome.inference_ms,
            total_ms=(time.monotonic() - received_at) * 1000.0,
        ),
    )
