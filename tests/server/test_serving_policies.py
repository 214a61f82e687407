"""Scheduling, overload, draining and disconnects through the real gRPC server.

These use the in-process ONNX Runtime backend (same models, no Triton start-up per server) so each
test can have its own scheduler settings.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.config import Settings
from anpr.scheduling import SchedulerPolicy
from tests.serving import RunningServer, collect, frame, status_name, stream


def onnx_server(**overrides) -> RunningServer:
    server = RunningServer(Settings(port=0, metrics_port=0, backend="onnxruntime", **overrides))
    server.wait_ready(60)
    return server


def test_a_chatty_camera_does_not_reduce_the_others_share(camera_frames) -> None:
    """Fairness through the real server, in counts. Latency bounds are the scheduler's (frames older than
    max_frame_age_ms are dropped, not processed), tested on its own clock in tests/unit/test_scheduler.py."""
    policy = SchedulerPolicy(max_batch=4, max_wait_ms=2, camera_queue_depth=2, max_frame_age_ms=1000)
    server = onnx_server(scheduler=policy, max_batches_in_flight=1, max_unanswered_per_stream=512)
    rounds, chatty_per_round, quiet = 12, 40, ("q1", "q2", "q3")

    def frames():
        sequence = 0
        for _ in range(rounds):
            for _ in range(chatty_per_round):  # 40x the frame rate of each quiet camera
                sequence += 1
                yield frame("chatty", sequence, camera_frames[sequence % len(camera_frames)].jpeg)
            for camera in quiet:
                sequence += 1
                yield frame(camera, sequence, camera_frames[sequence % len(camera_frames)].jpeg)
            time.sleep(0.3)

    try:
        results = stream(server.stub, frames())
    finally:
        server.stop()
    assert len(results) == rounds * (chatty_per_round + len(quiet))  # every frame answered once
    by_status = Counter((r.camera_id, status_name(r)) for r in results)
    assert by_status[("chatty", "DROPPED_STALE")] > rounds * chatty_per_round // 2  # it really was overloaded
    for camera in quiet:
        assert by_status[(camera, "PROCESSED")] >= rounds - 1, by_status  # quiet cameras keep being read


def test_drain_answers_every_frame_read_before_the_stream_ends(camera_frames) -> None:
    server = onnx_server(
        scheduler=SchedulerPolicy(max_batch=2, camera_queue_depth=50), shutdown_grace_s=30, max_batches_in_flight=1
    )
    sent, release = 24, threading.Event()

    def frames():
        for k in range(sent):
            yield frame(f"cam-{k % 3}", k, camera_frames[k % len(camera_frames)].jpeg)
        release.wait(30)  # keep the stream open: the client has not half-closed when the drain starts

    async def received() -> int:
        return sum(stats.received for stats in server.server.cameras.snapshot().values())

    call = server.stub.StreamFrames(frames(), timeout=120)
    first = next(call)
    deadline = time.monotonic() + 60  # every frame read before the drain starts (a busy machine is slow)
    while server.call(received()) < sent:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stopping = server.submit(server.server.stop())
    results, code = collect(call)
    release.set()
    stopping.result(60)
    server.stop()
    results.insert(0, first)
    assert sorted(r.sequence for r in results) == list(range(sent))  # each frame exactly once
    assert {status_name(r) for r in results} == {"PROCESSED"}  # the grace period was long enough
    assert code == grpc.StatusCode.UNAVAILABLE  # the client had not half-closed: told to go elsewhere


def test_drain_past_its_grace_answers_the_rest_dropped_overload(camera_frames) -> None:
    sent = 200  # one at a time through the models: far more than can finish while the drain starts
    server = onnx_server(
        scheduler=SchedulerPolicy(max_batch=1, camera_queue_depth=sent, max_frame_age_ms=60_000),
        shutdown_grace_s=0,
        max_batches_in_flight=1,
    )
    release = threading.Event()

    def frames():
        for k in range(sent):
            yield frame("cam", k, camera_frames[k % len(camera_frames)].jpeg)
        release.wait(30)

    call = server.stub.StreamFrames(frames(), timeout=120)
    first = next(call)
    deadline = time.monotonic() + 30
    while server.stub.GetStats(anpr_pb2.GetStatsRequest(), timeout=10).cameras[0].received < sent:
        assert time.monotonic() < deadline, "the server did not read every frame"
        time.sleep(0.005)
    server.call(server.server.stop())  # drain; the client channel stays open to read the answers
    results, code = collect(call)
    results.insert(0, first)
    release.set()
    server.stop()
    assert code == grpc.StatusCode.UNAVAILABLE
    statuses = Counter(status_name(r) for r in results)
    assert sorted(r.sequence for r in results) == list(range(sent))
    assert statuses["DROPPED_OVERLOAD"] > 0 and set(statuses) <= {"PROCESSED", "DROPPED_OVERLOAD", "FAILED"}
    assert all("shutting down" in r.reason for r in results if status_name(r) != "PROCESSED")


def test_health_turns_not_serving_while_draining_and_new_calls_are_refused(camera_frames) -> None:
    server = onnx_server(shutdown_grace_s=1)
    watch = health_pb2_grpc.HealthStub(server.channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    stopping = threading.Thread(target=server.call, args=(server.server.stop(),))
    stopping.start()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    other = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    with pytest.raises(grpc.RpcError) as refused:
        anpr_pb2_grpc.PlateRecognitionStub(other).Recognize(
            anpr_pb2.RecognizeRequest(frame=frame("c", 1, camera_frames[0].jpeg)), timeout=10
        )
    assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    stopping.join(60)
    server.stop()


def test_a_client_that_disconnects_mid_stream_does_not_disturb_the_server(camera_frames) -> None:
    server = onnx_server(scheduler=SchedulerPolicy(max_batch=1, camera_queue_depth=100), max_batches_in_flight=1)
    try:

        def endless():
            k = 0
            while True:
                k += 1
                yield frame("leaver", k, camera_frames[k % len(camera_frames)].jpeg)

        call = server.stub.StreamFrames(endless(), timeout=60)
        next(call)
        call.cancel()
        deadline = time.monotonic() + 10
        while server.server.dispatcher.scheduler.queued and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.server.dispatcher.scheduler.queued == 0  # its waiting frames were dropped
        results = stream(server.stub, iter([frame("stayer", 1, camera_frames[0].jpeg)]))
        assert [status_name(r) for r in results] == ["PROCESSED"]
    finally:
        server.stop()


def test_sigterm_drains_a_running_server_process(camera_frames, tmp_path) -> None:
    port_file = tmp_path / "log"
    env = dict(os.environ, ANPR_SHUTDOWN_GRACE_S="20", ANPR_METRICS_PORT="0")
    process = subprocess.Popen(
        [sys.executable, "-m", "anpr.cli", "serve", "--backend", "onnxruntime", "--port", "0"],
        stderr=open(port_file, "w"),
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline:
            found = re.search(r"listening on [\d.]+:(\d+)", port_file.read_text())
            port = int(found.group(1)) if found else None
            time.sleep(0.1)
        assert port, port_file.read_text()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        health = health_pb2_grpc.HealthStub(channel)
        while health.Check(health_pb2.HealthCheckRequest(), timeout=5).status != health_pb2.HealthCheckResponse.SERVING:
            time.sleep(0.1)
        release = threading.Event()

        def frames():
            for k in range(12):
                yield frame("cam", k, camera_frames[k % len(camera_frames)].jpeg)
            release.wait(30)

        call = anpr_pb2_grpc.PlateRecognitionStub(channel).StreamFrames(frames(), timeout=60)
        first = next(call)
        process.send_signal(signal.SIGTERM)
        results, code = collect(call)
        results.insert(0, first)
        release.set()
        assert process.wait(30) == 0
        # Every frame sent was read and answered (processed, or dropped because of the shutdown).
        assert sorted(r.sequence for r in results) == list(range(12))
        assert code == grpc.StatusCode.UNAVAILABLE
        assert "draining" in port_file.read_text()
    finally:
        if process.poll() is None:
            process.kill()


def test_frames_and_streams_may_ask_for_a_tighter_latency_budget(camera_frames) -> None:
    """Per-frame and per-stream budgets through the real server: a frame that asks for less time than
    a batch has been taking is answered DROPPED_STALE (deadline) without being read; the others are read;
    a malformed budget ends the call INVALID_ARGUMENT; the metrics show the budget and learned times."""
    from tests.server.test_observability import samples, scrape

    server = onnx_server(scheduler=SchedulerPolicy(latency_budget_ms=60_000, max_wait_ms=0, max_batch=4))
    jpeg = camera_frames[0].jpeg
    try:
        warm_up = stream(server.stub, iter([frame(f"cam-{k}", k, jpeg) for k in range(8)]))
        assert {status_name(r) for r in warm_up} == {"PROCESSED"}  # batch times are learned from these
        tight = anpr_pb2.Frame(camera_id="cam-tight", sequence=1, encoded=jpeg, latency_budget_ms=1)
        relaxed = anpr_pb2.Frame(camera_id="cam-relaxed", sequence=2, encoded=jpeg, latency_budget_ms=30_000)
        by_camera = {r.camera_id: r for r in stream(server.stub, iter([tight, relaxed, frame("cam-plain", 3, jpeg)]))}
        assert status_name(by_camera["cam-tight"]) == "DROPPED_STALE"
        assert "latency_budget_ms" in by_camera["cam-tight"].reason and not by_camera["cam-tight"].reads
        assert status_name(by_camera["cam-relaxed"]) == status_name(by_camera["cam-plain"]) == "PROCESSED"

        stream_budget = [("anpr-latency-budget-ms", "1")]
        results = list(server.stub.StreamFrames(iter([frame("cam-s", 1, jpeg)]), timeout=60, metadata=stream_budget))
        assert [status_name(r) for r in results] == ["DROPPED_STALE"]
        own = anpr_pb2.Frame(camera_id="cam-s", sequence=2, encoded=jpeg, latency_budget_ms=30_000)
        results = list(server.stub.StreamFrames(iter([own]), timeout=60, metadata=stream_budget))
        assert [status_name(r) for r in results] == ["PROCESSED"]  # a frame's own budget comes first

        response = server.stub.Recognize(
            anpr_pb2.RecognizeRequest(frame=frame("cam-r", 1, jpeg)), timeout=60, metadata=stream_budget
        )
        assert status_name(response.result) == "DROPPED_STALE"

        for bad in ("soon", "-5", "nan"):
            _, code = collect(
                server.stub.StreamFrames(iter([frame("cam-s", 3, jpeg)]), metadata=[("anpr-latency-budget-ms", bad)])
            )
            assert code == grpc.StatusCode.INVALID_ARGUMENT
        deadline = time.monotonic() + 5  # the learned-time gauges are set once a second
        while (values := samples(scrape(server)))[("anpr_scheduler_batch_service_seconds", (("batch", "one"),))] <= 0:
            assert time.monotonic() < deadline, "the learned batch time never reached its gauge"
            time.sleep(0.2)
    finally:
        server.stop()
    assert values[("anpr_scheduler_latency_budget_seconds", ())] == 60.0
    assert values[("anpr_frames_answered_total", (("reason", "deadline"), ("status", "DROPPED_STALE")))] == 3
    processed = values[("anpr_frames_processed_total", ())]
    assert values[("anpr_frame_budget_used_ratio_count", (("stage", "end_to_end"),))] == processed == 11
    assert values[("anpr_frame_budget_used_ratio_bucket", (("le", "0.05"), ("stage", "end_to_end")))] == processed
