"""Faults of the real local Triton under load, and of the server itself: nothing lost, nothing frozen,
nothing left behind. Each test prints its accounting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
import tritonclient.grpc as triton_client
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.utils import InferenceServerException

from anpr.api.v1 import anpr_pb2_grpc
from tests.serving import RunningServer, frame, process_group_alive, status_name

SERVING = health_pb2.HealthCheckResponse.SERVING


def _health(server: RunningServer) -> int:
    stub = health_pb2_grpc.HealthStub(server.channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status


def _until(condition, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, what
        time.sleep(0.1)
    return time.monotonic() - started


class Load:
    """One stream sending a frame every `interval_s` until stopped; every answer kept."""

    def __init__(self, server: RunningServer, jpeg: bytes, camera: str, interval_s: float = 0.1) -> None:
        self.sent = 0
        self.results: list = []
        self.code: grpc.StatusCode | None = None
        self._stop = threading.Event()

        def frames():
            while not self._stop.is_set():
                self.sent += 1
                yield frame(camera, self.sent, jpeg)
                time.sleep(interval_s)

        def run() -> None:
            try:
                for result in server.stub.StreamFrames(frames(), timeout=300):
                    self.results.append((time.monotonic(), status_name(result)))
            except grpc.RpcError as error:
                self.code = error.code()
            else:
                self.code = grpc.StatusCode.OK

        self._thread = threading.Thread(target=run)
        self._thread.start()

    def statuses_since(self, moment: float) -> Counter:
        return Counter(status for at, status in self.results if at >= moment)

    def stop(self) -> Counter:
        self._stop.set()
        self._thread.join(120)
        counts = Counter(status for _, status in self.results)
        print(f"frames sent {self.sent}, answered {len(self.results)}: {dict(counts)}; stream ended {self.code.name}")
        return counts


def test_a_frozen_triton_turns_health_not_serving_and_frames_fail_fast(triton_server: RunningServer, camera_frames):
    """SIGSTOP: readiness calls have deadlines (health stayed SERVING for 45 s before), the circuit
    breaker answers FAILED at once instead of each frame waiting for its call deadline; SIGCONT: back."""
    triton = triton_server.server.local_triton
    assert triton is not None and triton.pid
    load = Load(triton_server, camera_frames[0].jpeg, "cam-freeze")
    _until(lambda: load.statuses_since(0)["PROCESSED"] >= 3, 60, "no frame processed before the freeze")
    frozen_at = time.monotonic()
    os.kill(triton.pid, signal.SIGSTOP)
    try:
        seen = _until(lambda: _health(triton_server) != SERVING, 15, "health stayed SERVING with Triton frozen")
        _until(lambda: load.statuses_since(frozen_at + 8)["FAILED"] >= 5, 60, "frames were not answered FAILED")
        failed_late = load.statuses_since(frozen_at + 8)
    finally:
        os.kill(triton.pid, signal.SIGCONT)
    thawed_at = time.monotonic()
    triton_server.wait_ready(60)
    _until(lambda: load.statuses_since(thawed_at)["PROCESSED"] >= 3, 60, "frames not processed after SIGCONT")
    counts = load.stop()
    print(f"health NOT_SERVING {seen:.1f} s after SIGSTOP; answers 8 s into the freeze: {dict(failed_late)}")
    assert load.code == grpc.StatusCode.OK and len(load.results) == load.sent  # every frame answered once
    assert counts["FAILED"] >= 5 and counts["PROCESSED"] >= 6
    assert set(failed_late) <= {"FAILED", "DROPPED_STALE", "PROCESSED"}  # processed: after SIGCONT
    assert triton_server.server.dispatcher.breaker.opened >= 1


def test_a_killed_triton_under_load_is_restarted_and_every_frame_is_answered(triton_server, camera_frames):
    triton = triton_server.server.local_triton
    assert triton is not None
    load = Load(triton_server, camera_frames[1].jpeg, "cam-kill")
    _until(lambda: load.statuses_since(0)["PROCESSED"] >= 3, 60, "no frame processed before the kill")
    killed, deaths, restarts = triton.pid, triton.deaths, triton.restarts
    killed_at = time.monotonic()
    os.kill(killed, signal.SIGKILL)
    _until(lambda: triton.deaths > deaths, 30, "the supervisor never saw Triton die")
    _until(lambda: not process_group_alive(killed), 30, "Triton's backend stubs outlived it")
    _until(lambda: triton.restarts > restarts, 60, "Triton was not restarted")
    triton_server.wait_ready(120)
    restarted_in = time.monotonic() - killed_at
    serving_again = time.monotonic()
    _until(lambda: load.statuses_since(serving_again)["PROCESSED"] >= 3, 60, "frames not processed after restart")
    counts = load.stop()
    print(f"Triton killed, serving again after {restarted_in:.1f} s")
    assert load.code == grpc.StatusCode.OK and len(load.results) == load.sent
    assert counts["FAILED"] >= 1 and counts["PROCESSED"] >= 6
    assert not list(Path("/dev/shm").glob(f"{triton.shm_prefix}*")) or triton.pid != killed  # new regions only


def test_the_local_triton_listens_on_loopback_with_its_admin_protocols_refused(triton_server: RunningServer):
    triton = triton_server.server.local_triton
    assert triton is not None
    listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, check=True).stdout
    mine = [line for line in listening.splitlines() if f"pid={triton.pid}," in line]
    assert len(mine) == 3, listening  # gRPC, HTTP, metrics
    assert all(re.search(r"\s(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):\d+\s", line) for line in mine), mine
    client = triton_client.InferenceServerClient(triton.url)
    assert client.is_server_ready()
    for call in (client.get_model_repository_index, client.get_system_shared_memory_status):
        with pytest.raises(InferenceServerException, match="restricted|not allowed|header"):
            call()
    with pytest.raises(InferenceServerException):
        client.unload_model("plate_detector")


def test_a_killed_server_leaves_no_triton_stub_folder_or_shared_memory_behind(tmp_path: Path, camera_frames):
    """kill -9 of `anpr serve` used to orphan tritonserver and its stubs, with their ports, shared memory
    and /tmp/anpr-triton-* folder."""
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "anpr.cli", "serve", "--port", "0", "--metrics-port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
    )
    try:
        _until(lambda: "models ready: SERVING" in log.read_text(), 180, "server never served")
    except AssertionError:
        process.kill()
        raise
    text = log.read_text()
    triton_pid = int(re.search(r"started tritonserver pid (\d+)", text).group(1))
    workdir = Path(re.search(r"work folder (\S+)\)", text).group(1))
    port = int(re.search(r"listening on [\d.]+:(\d+)", text).group(1))
    prefix = f"anpr-triton-{process.pid}-"
    stub = anpr_pb2_grpc.PlateRecognitionStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    from anpr.api.v1 import anpr_pb2

    result = stub.Recognize(anpr_pb2.RecognizeRequest(frame=frame("cam-k", 1, camera_frames[0].jpeg)), timeout=60)
    assert status_name(result.result) == "PROCESSED"
    stubs = int(subprocess.run(["pgrep", "-c", "-g", str(triton_pid)], capture_output=True, text=True).stdout)
    regions = len(list(Path("/dev/shm").glob(f"{prefix}*")))
    assert workdir.exists() and regions > 0 and stubs >= 3  # tritonserver and its backend stubs
    process.kill()
    process.wait(10)
    gone_in = _until(
        lambda: (
            not process_group_alive(triton_pid)
            and not workdir.exists()
            and not list(Path("/dev/shm").glob(f"{prefix}*"))
        ),
        30,
        "something outlived the killed server",
    )
    print(
        f"server killed: tritonserver and {stubs - 1} stubs, {regions} shared-memory regions and the work folder "
        f"gone {gone_in:.1f} s later"
    )
