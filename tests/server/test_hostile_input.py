"""A hostile but fair client against the real server: malformed messages, crafted images, hostile
camera ids, too many streams, clients that never read. Each test prints its accounting."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import Counter

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.api.v1 import anpr_pb2
from anpr.config import Settings
from tests.serving import RunningServer, collect, frame, status_name

STREAM_FRAMES = "/anpr.v1.PlateRecognition/StreamFrames"


@pytest.fixture(scope="module")
def server():
    running = RunningServer(Settings(port=0, metrics_port=0, backend="onnxruntime", max_streams=4))
    running.wait_ready(60)
    yield running
    running.stop()


def _raw_stream(channel: grpc.Channel):
    """StreamFrames taking serialised bytes, so a test can send what no protobuf library would."""
    return channel.stream_stream(
        STREAM_FRAMES, request_serializer=lambda data: data, response_deserializer=anpr_pb2.FrameResult.FromString
    )


def test_a_malformed_message_mid_stream_ends_the_call_saying_what_was_not_read(server, camera_frames) -> None:
    """Ten frames, one message with an invalid UTF-8 camera_id, ten more: the ten are answered and the
    call ends INVALID_ARGUMENT (it used to end OK with the last ten silently unread)."""
    jpeg = camera_frames[0].jpeg
    good = [frame("cam-m", k, jpeg).SerializeToString() for k in range(10)]
    bad = b"\x0a\x02\xff\xfe" + frame("", 10, jpeg).SerializeToString()  # field 1 (camera_id): bytes ff fe
    later = [frame("cam-m", k, jpeg).SerializeToString() for k in range(11, 21)]
    call = _raw_stream(server.channel)(iter([*good, bad, *later]), timeout=60)
    results, code = collect(call)
    details = call.details()
    print(f"messages sent 21, answered {len(results)}, ended {code.name}: {details!r}")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(r.sequence for r in results) == list(range(10))
    assert "message 11 of this stream is not a valid anpr.v1.Frame" in details and "the 10 before it" in details


def test_a_malformed_recognize_request_is_invalid_argument(server) -> None:
    call = server.channel.unary_unary(
        "/anpr.v1.PlateRecognition/Recognize",
        request_serializer=lambda data: data,
        response_deserializer=anpr_pb2.RecognizeResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as refused:
        call(b"\x0a\x04\x0a\x02\xff\xfe", timeout=10)  # RecognizeRequest.frame.camera_id: invalid UTF-8
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_hostile_camera_ids_are_refused_and_never_kept(server, camera_frames) -> None:
    """400 frames with distinct 1 MB ids kept 348 MB in the stats book and made a 440 MB GetStats reply."""
    jpeg = camera_frames[0].jpeg
    frames = [frame(f"{k:06d}" + "x" * 1_000_000, k, jpeg) for k in range(40)]
    frames += [frame("bad id with spaces", 40, jpeg), frame("ok-camera", 41, jpeg)]
    results, code = collect(server.stub.StreamFrames(iter(frames), timeout=60))
    reasons = Counter(r.reason.split(" ")[0] if status_name(r) == "INVALID" else status_name(r) for r in results)
    print(f"frames sent {len(frames)}, answered {len(results)}: {dict(reasons)}")
    assert code == grpc.StatusCode.OK and len(results) == len(frames)
    invalid = [r for r in results if status_name(r) == "INVALID"]
    assert len(invalid) == 41 and all(r.camera_id == "" and r.reason.startswith("camera_id") for r in invalid)
    stats = server.stub.GetStats(anpr_pb2.GetStatsRequest(), timeout=10)
    assert stats.ByteSize() < 100_000 and all(len(c.camera_id) <= 128 for c in stats.cameras)
    assert "ok-camera" in {c.camera_id for c in stats.cameras}


def _crafted_jpeg(jpeg: bytes) -> bytes:
    """Valid, and 8 MB of empty comment segments before the frame header."""
    return jpeg[:2] + b"\xff\xfe\x00\x02" * (2_000_000 - 1000) + jpeg[2:]


def _crafted_png() -> bytes:
    png = cv2.imencode(".png", np.zeros((120, 160), np.uint8))[1].tobytes()
    chunk = (0).to_bytes(4, "big") + b"abCd" + zlib.crc32(b"abCd").to_bytes(4, "big")
    return png[:33] + chunk * 690_000 + png[33:]


def test_the_event_loop_stays_responsive_while_crafted_images_arrive(server, camera_frames) -> None:
    """Each crafted frame used to hold the event loop for 4-5 s (health checks took 3.7 s, another
    camera's frames went stale). Health checks run alongside; each must answer within the Kubernetes
    probe's own 1 s deadline."""
    health = health_pb2_grpc.HealthStub(server.channel)
    latencies: list[float] = []
    failures: list[str] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            started = time.monotonic()
            try:
                health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            except grpc.RpcError as error:
                failures.append(error.code().name)
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    crafted = [_crafted_jpeg(camera_frames[0].jpeg), _crafted_png()] * 2
    try:
        results = [
            server.stub.Recognize(anpr_pb2.RecognizeRequest(frame=frame("cam-c", k, data)), timeout=60).result
            for k, data in enumerate(crafted)
        ]
        other = server.stub.Recognize(
            anpr_pb2.RecognizeRequest(frame=frame("cam-other", 1, camera_frames[1].jpeg)), timeout=60
        ).result
    finally:
        done.set()
        prober.join()
    print(
        f"crafted frames {len(crafted)}: {[status_name(r) for r in results]}; health checks {len(latencies)}, "
        f"failed {len(failures)}, slowest {max(latencies) * 1000:.0f} ms; other camera {status_name(other)}"
    )
    assert not failures and latencies
    assert [status_name(r) for r in results] == ["INVALID", "PROCESSED"] * 2  # the JPEG's header is refused
    assert status_name(other) == "PROCESSED"


def test_streams_beyond_the_limit_are_refused(server, camera_frames) -> None:
    release = threading.Event()

    def holding():
        yield frame("cam-h", 0, camera_frames[0].jpeg)
        release.wait(30)

    calls = [server.stub.StreamFrames(holding(), timeout=60) for _ in range(4)]
    try:
        for call in calls:
            assert status_name(next(call)) in ("PROCESSED", "DROPPED_STALE")
        results, code = collect(server.stub.StreamFrames(iter([frame("cam-h", 1, camera_frames[0].jpeg)]), timeout=30))
    finally:
        release.set()
        for call in calls:
            collect(call)
    print(f"streams open 4 (the limit), a fifth: {code.name}")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and not results


def test_a_stats_client_that_goes_away_leaves_no_error_behind(server, camera_frames, caplog) -> None:
    """With megabyte camera ids kept, GetStats built replies larger than a client takes; the client went
    away mid-reply and gRPC logged an ExecuteBatchError traceback. Ids are bounded now: the reply of
    even 20,000 cameras fits a default client's 4 MB."""
    frames = [frame(f"{k:03d}" + "y" * 1_000_000, k, camera_frames[0].jpeg) for k in range(60)]
    with caplog.at_level(logging.WARNING):
        collect(server.stub.StreamFrames(iter(frames), timeout=60))
        for timeout in (0.001, 0.01, 0.1, 10.0):
            try:
                server.stub.GetStats(anpr_pb2.GetStatsRequest(), timeout=timeout)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        time.sleep(0.5)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_every_fuzzed_frame_on_a_stream_gets_exactly_one_answer(server, camera_frames) -> None:
    """Hypothesis-made streams of good, broken and hostile frames through the real server."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.unit.test_fuzz import CAMERA_IDS, mutated

    good = camera_frames[2].jpeg
    images = st.one_of(
        st.just(good), mutated(good), st.binary(max_size=256), st.just(_crafted_jpeg(good)), st.just(b"")
    )
    counts: Counter = Counter()
    sent = [0]

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(st.tuples(CAMERA_IDS, images), min_size=1, max_size=25))
    def case(frames: list[tuple[str, bytes]]) -> None:
        messages = [anpr_pb2.Frame(camera_id=c, sequence=k, encoded=data) for k, (c, data) in enumerate(frames)]
        sent[0] += len(messages)
        results, code = collect(server.stub.StreamFrames(iter(messages), timeout=120))
        assert code == grpc.StatusCode.OK
        assert sorted(r.sequence for r in results) == list(range(len(messages)))
        counts.update(status_name(r) for r in results)

    case()
    print(f"fuzzed frames sent {sent[0]}, answered {sum(counts.values())}: {dict(counts)}")
    assert sum(counts.values()) == sent[0]
    assert counts["PROCESSED"] and counts["INVALID"]
