"""Many frames per message (StreamFrameBatches) through the real server: the same accounting as one
frame a message, results in batches, and the same refusals."""

from __future__ import annotations

from collections import Counter

import grpc
import pytest

from anpr.api.v1 import anpr_pb2
from anpr.config import Settings
from anpr.scheduling import SchedulerPolicy
from tests.serving import RunningServer, frame, status_name


@pytest.fixture(scope="module")
def server():
    settings = Settings(
        port=0,
        metrics_port=0,
        backend="onnxruntime",
        max_frames_per_message=32,
        scheduler=SchedulerPolicy(camera_queue_depth=8),
    )
    running = RunningServer(settings)
    running.wait_ready(60)
    yield running
    running.stop()


def _batches(camera_frames, count: int, size: int, cameras: int = 6):
    for b in range(count):
        yield anpr_pb2.FrameBatch(
            frames=[
                frame(f"gw-{k % cameras}", b * size + k, camera_frames[(b * size + k) % len(camera_frames)].jpeg)
                for k in range(size)
            ]
        )


def _collect(call) -> tuple[list[anpr_pb2.FrameResultBatch], grpc.StatusCode, str]:
    messages = []
    try:
        for message in call:
            messages.append(message)
    except grpc.RpcError as error:
        return messages, error.code(), error.details()
    return messages, grpc.StatusCode.OK, ""


def test_every_frame_of_every_batch_gets_one_result_and_results_come_in_batches(server, camera_frames) -> None:
    call = server.stub.StreamFrameBatches(_batches(camera_frames, 6, 24), timeout=300)
    messages, code, _ = _collect(call)
    results = [r for m in messages for r in m.results]
    statuses = Counter(status_name(r) for r in results)
    print(f"frames sent {6 * 24} in 6 messages, answered {len(results)} in {len(messages)} messages: {dict(statuses)}")
    assert code == grpc.StatusCode.OK
    assert sorted(r.sequence for r in results) == list(range(6 * 24))
    assert set(statuses) <= {"PROCESSED", "DROPPED_STALE"} and statuses["PROCESSED"] > 0
    assert len(messages) < len(results)  # some messages carried several results
    assert all(len(m.results) <= 32 for m in messages)


def test_a_batch_over_the_limit_or_malformed_ends_the_stream_after_the_earlier_results(server, camera_frames) -> None:
    good = list(_batches(camera_frames, 2, 8))
    too_big = next(_batches(camera_frames, 1, 33))
    messages, code, details = _collect(server.stub.StreamFrameBatches(iter([*good, too_big]), timeout=120))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "more than 32" in details
    assert len([r for m in messages for r in m.results]) == 16

    raw = server.channel.stream_stream(
        "/anpr.v1.PlateRecognition/StreamFrameBatches",
        request_serializer=lambda data: data,
        response_deserializer=anpr_pb2.FrameResultBatch.FromString,
    )
    malformed = b"\x0a\x06\x0a\x04\x0a\x02\xff\xfe"  # FrameBatch.frames[0].camera_id: invalid UTF-8
    call = raw(iter([good[0].SerializeToString(), malformed, good[1].SerializeToString()]), timeout=120)
    messages, code, details = _collect(call)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "message 2 of this stream" in details
    assert sorted(r.sequence for m in messages for r in m.results) == list(range(8))
