"""End to end against a real local Triton (the nvidia-pytriton binary) over real gRPC on loopback."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.api.v1 import anpr_pb2
from anpr.inference.pipeline import PipelineSettings
from tests.repo import tool
from tests.serving import RunningServer, collect, frame, process_group_alive, status_name, stream


def health_status(server: RunningServer, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(server.channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_health_is_not_serving_until_the_models_are_ready(triton_server: RunningServer) -> None:
    assert triton_server.status_before_ready == health_pb2.HealthCheckResponse.NOT_SERVING
    assert health_status(triton_server) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(triton_server, "anpr.v1.PlateRecognition") == health_pb2.HealthCheckResponse.SERVING


def test_recognize_reads_the_plates_of_generated_frames(triton_server: RunningServer, camera_frames) -> None:
    expected = read = 0
    for k, synthetic in enumerate(camera_frames):
        result = triton_server.stub.Recognize(
            anpr_pb2.RecognizeRequest(frame=frame("cam-1", k, synthetic.jpeg)), timeout=60
        ).result
        assert status_name(result) == "PROCESSED" and result.sequence == k and result.camera_id == "cam-1"
        assert result.model_versions.detector == f"plate_detector:{PipelineSettings().detector_version}"
        truth = {p.text for p in synthetic.plates}
        texts = {r.text for r in result.reads}
        expected += len(truth)
        read += len(truth & texts)
        for plate in result.reads:
            assert len(plate.char_confidences) == len(plate.text) and 0 < plate.confidence <= 1
    assert expected > 0 and read / expected >= 0.75  # version 2 reads ~94% of generated plates exactly (model card)


def test_many_cameras_share_one_stream_and_every_frame_is_answered(triton_server: RunningServer, camera_frames) -> None:
    frames = [frame(f"cam-{k % 6}", k, camera_frames[k % len(camera_frames)].jpeg) for k in range(36)]
    results = stream(triton_server.stub, iter(frames))
    assert sorted((r.camera_id, r.sequence) for r in results) == sorted((f.camera_id, f.sequence) for f in frames)
    assert {status_name(r) for r in results} <= {"PROCESSED", "DROPPED_STALE"}
    assert Counter(r.camera_id for r in results if status_name(r) == "PROCESSED").keys() == {
        f"cam-{k}" for k in range(6)
    }


def test_invalid_frames_are_answered_invalid_and_the_stream_carries_on(
    triton_server: RunningServer, camera_frames
) -> None:
    good = camera_frames[0].jpeg
    frames = [
        frame("cam-a", 1, good),
        frame("cam-a", 2, good[: len(good) // 3]),  # corrupt JPEG
        frame("cam-a", 3, b""),  # empty
        anpr_pb2.Frame(
            camera_id="cam-a",
            sequence=4,
            raw=anpr_pb2.RawImage(pixels=b"\0" * 10, width=64, height=64, format=anpr_pb2.PIXEL_FORMAT_GRAY8),
        ),
        frame("", 5, good),  # missing camera id
        frame("cam-b", 6, good),
    ]
    results = {r.sequence: r for r in stream(triton_server.stub, iter(frames))}
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert [status_name(results[k]) for k in (2, 3, 4, 5)] == ["INVALID"] * 4
    assert all(results[k].reason for k in (2, 3, 4, 5))
    assert status_name(results[1]) == status_name(results[6]) == "PROCESSED"


def test_oversize_frames_are_invalid_and_the_transport_refuses_larger_messages(triton_server: RunningServer) -> None:
    """Up to the transport's limit (the largest valid frame plus 64 KiB) a frame too large is INVALID;
    a larger message never reaches the servicer: gRPC ends the call RESOURCE_EXHAUSTED."""
    big = anpr_pb2.RawImage(pixels=b"\0" * (4200 * 2000), width=4200, height=2000, format=anpr_pb2.PIXEL_FORMAT_GRAY8)
    result = triton_server.stub.Recognize(
        anpr_pb2.RecognizeRequest(frame=anpr_pb2.Frame(camera_id="c", sequence=1, raw=big)), timeout=30
    ).result
    assert status_name(result) == "INVALID" and result.reason.startswith("raw image of 8400000 bytes exceeds")
    huge = anpr_pb2.RawImage(pixels=b"\0" * (5000 * 4000), width=5000, height=4000, format=anpr_pb2.PIXEL_FORMAT_GRAY8)
    with pytest.raises(grpc.RpcError) as refused:
        triton_server.stub.Recognize(
            anpr_pb2.RecognizeRequest(frame=anpr_pb2.Frame(camera_id="c", sequence=2, raw=huge)), timeout=30
        )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_triton_and_onnxruntime_backends_give_identical_reads(triton_server: RunningServer, camera_frames) -> None:
    import asyncio

    from anpr.inference.backends import running_backend
    from anpr.inference.pipeline import run_batch
    from anpr.ingest.decode import decode_encoded

    settings = triton_server.server.settings.pipeline

    async def read_locally(jpeg: bytes) -> list:
        async with running_backend("onnxruntime", settings) as backend:
            return (await run_batch(backend, [decode_encoded(jpeg)], settings))[0]

    for k, synthetic in enumerate(camera_frames[:6]):
        served = triton_server.stub.Recognize(
            anpr_pb2.RecognizeRequest(frame=frame("cam-x", k, synthetic.jpeg)), timeout=60
        ).result
        local = asyncio.run(read_locally(synthetic.jpeg))
        assert [r.text for r in served.reads] == [r.text for r in local]
        for a, b in zip(served.reads, local):
            assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
            assert (a.box.x1, a.box.y1, a.box.x2, a.box.y2) == pytest.approx(b.box, abs=0.05)


def test_a_model_that_does_not_take_uint8_pixels_is_never_ready(
    model_repository: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The models take uint8 pixels (the shipped configs say so); a config declaring float32 (an export
    older than that contract) loads in Triton, but the front end refuses it, saying why."""
    import asyncio
    import contextlib
    import shutil

    import tritonclient.grpc.aio as triton
    from tritonclient.utils import InferenceServerException

    from anpr.inference.triton_backend import DETECTOR, RECOGNISER, TritonBackend
    from anpr.inference.triton_process import LocalTriton

    float_repository = tmp_path / "repository"
    shutil.copytree(model_repository, float_repository)
    config = float_repository / DETECTOR.name / "config.pbtxt"
    assert "data_type: TYPE_UINT8" in config.read_text()
    config.write_text(config.read_text().replace("data_type: TYPE_UINT8", "data_type: TYPE_FP32"))
    settings = PipelineSettings(model_repository=float_repository)

    async def readiness() -> bool:
        local = LocalTriton(float_repository)
        await local.start()
        client = triton.InferenceServerClient(local.url)
        backend = TritonBackend(local.url, settings)
        try:
            for _ in range(600):  # Triton itself loads both models...
                with contextlib.suppress(InferenceServerException):  # (refused until it listens)
                    models = (DETECTOR, RECOGNISER)
                    if all([await client.is_model_ready(m.name, str(settings.version(m))) for m in models]):
                        break
                await asyncio.sleep(0.2)
            await backend.start()
            return await backend.ready()  # ...but the front end does not take the float32 one
        finally:
            await backend.close()
            await client.close()
            await local.stop()

    assert asyncio.run(readiness()) is False
    refused = f"plate_detector:{settings.detector_version} takes images TYPE_FP32 [1, 384, 640], not images TYPE_UINT8"
    assert refused in caplog.text


def test_grpcurl_lists_and_calls_the_service(triton_server: RunningServer, camera_frames) -> None:
    address = f"127.0.0.1:{triton_server.port}"
    listed = subprocess.run(
        [tool("grpcurl"), "-plaintext", address, "list"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    assert "anpr.v1.PlateRecognition" in listed and "grpc.health.v1.Health" in listed
    body = json.dumps(
        {"frame": {"cameraId": "cam-g", "sequence": 7, "encoded": base64.b64encode(camera_frames[0].jpeg).decode()}}
    )
    called = subprocess.run(
        [tool("grpcurl"), "-plaintext", "-d", "@", address, "anpr.v1.PlateRecognition/Recognize"],
        input=body,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(called.stdout)["result"]
    # grpcurl prints proto field names (camera_id); accept the JSON-mapping names (cameraId) too.
    assert result["status"] == "PROCESSED"
    assert result.get("camera_id", result.get("cameraId")) == "cam-g" and result["sequence"] == "7"


def test_a_killed_triton_fails_frames_until_it_is_restarted_then_serving_resumes(
    triton_server: RunningServer, camera_frames
) -> None:
    """While Triton is down, frames on an open stream are answered FAILED and new calls are refused
    UNAVAILABLE; the supervisor restarts it and the server serves again. The restart is held back until
    the test has seen the outage, so nothing here races it."""
    triton = triton_server.server.local_triton
    assert triton is not None
    restarts, delay = triton.restarts, triton.restart_delay_s
    release = threading.Event()

    def frames():
        yield frame("c", 1, camera_frames[0].jpeg)
        release.wait(60)  # sent once Triton is known to be down
        yield frame("c", 2, camera_frames[0].jpeg)

    call = triton_server.stub.StreamFrames(frames(), timeout=120)
    assert status_name(next(call)) == "PROCESSED"
    triton.restart_delay_s = 3600  # hold the restart
    killed, deaths = triton.pid, triton.deaths
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 30  # seen at once, not when its orphaned backend stubs let go of its pipe
    while triton.deaths == deaths:
        assert time.monotonic() < deadline, "the supervisor never saw Triton die"
        time.sleep(0.1)
    while process_group_alive(killed):  # the stubs are killed with their dead server's process group
        assert time.monotonic() < deadline, "Triton's backend stubs outlived it"
        time.sleep(0.1)
    deadline = time.monotonic() + 30
    while health_status(triton_server) == health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "health never said NOT_SERVING"
        time.sleep(0.1)
    with pytest.raises(grpc.RpcError) as refused:
        triton_server.stub.Recognize(anpr_pb2.RecognizeRequest(frame=frame("c", 3, camera_frames[0].jpeg)), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    release.set()
    results, code = collect(call)
    assert code == grpc.StatusCode.OK and [(r.sequence, status_name(r)) for r in results] == [(2, "FAILED")]
    assert "inference failed" in results[0].reason
    triton.restart_delay_s = delay  # let the supervisor restart it
    triton_server.wait_ready(120)
    assert triton.restarts == restarts + 1
    result = triton_server.stub.Recognize(
        anpr_pb2.RecognizeRequest(frame=frame("c", 4, camera_frames[0].jpeg)), timeout=60
    ).result
    assert status_name(result) == "PROCESSED"
