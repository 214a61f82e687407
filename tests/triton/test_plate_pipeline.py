"""The Triton-side pipeline (`plate_pipeline`: DALI decode and letterbox, BLS calls to the two models)
in a real local Triton on the CPU, and the server with `pipeline.preprocessing = "triton"`."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import grpc
import pytest

from anpr.api.v1 import anpr_pb2
from anpr.config import Settings
from anpr.inference.pipeline import PipelineSettings
from tests.conftest import HOLD_OUT_SEED
from tests.serving import RunningServer, frame, status_name, stream

# With `triton_resample = "dali"` the letterbox is DALI's antialiased cubic filter where the models were
# trained on OpenCV's INTER_AREA; boxes move by fractions of a pixel and a few crops read differently.
# Measured with version 2 (BENCHMARKS.md): +0.72 points on this set (416 plates; one plate is 0.24
# points), -0.4 pooled over four other sets; a broken stage costs far more (DALI's antialiased linear
# filter: -1.7). So the check runs version 2, the models it was calibrated on. Version 3 on this set:
# -1.9 points (0.950 -> 0.930), a model-dependent gap of the GPU path, recorded in BENCHMARKS.md.
DALI_RESAMPLE_GAP = 0.01
CALIBRATED_ON = {"detector_version": 2, "recogniser_version": 2}
TRITON_SIDE = PipelineSettings(preprocessing="triton")


@pytest.fixture(scope="module")
def pipeline_server():
    server = RunningServer(Settings(port=0, metrics_port=0, backend="triton", pipeline=TRITON_SIDE))
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hold_out_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anpr_synth.synthetic_set import write_labelled_set

    directory = tmp_path_factory.mktemp("pipeline_hold_out")
    write_labelled_set(directory, count=200, seed=HOLD_OUT_SEED, progress=False)
    return directory


def _metric_sum(server: RunningServer, name: str, label: str) -> float:
    port = server.server.metrics_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(f"{name}{{") and f'model="{label}"' in line
    )


def test_the_triton_side_pipeline_reads_as_the_front_end_path_does(pipeline_server, hold_out_set: Path) -> None:
    """The default (`opencv` resampling): DALI decodes, and the reads are the front end's, frame for frame.
    With DALI resampling too, plate accuracy stays within a point of the front end's (version 2)."""
    from anpr.inference.backends import running_backend
    from anpr.inference.pipeline import run_batch, run_encoded_batch
    from anpr.ingest.decode import decode_encoded
    from anpr_benchmarks.evaluation.evaluate import evaluate

    served = pipeline_server.server.backend  # as the server uses it: encoded bytes in, one call per batch
    files = sorted(hold_out_set.glob("*.jpg"))[:48]

    async def frame_by_frame() -> tuple[list, list]:
        front_end = PipelineSettings()
        async with running_backend("onnxruntime", front_end) as local:
            here = await run_batch(local, [decode_encoded(f.read_bytes()) for f in files], front_end)
        there = await run_encoded_batch(served, [f.read_bytes() for f in files], TRITON_SIDE)
        return here, there

    here, there = pipeline_server.call(frame_by_frame(), timeout=600)
    assert all(result.invalid is None for result in there)
    assert sum(map(len, here)) > 60
    for local, remote in zip(here, there):
        assert [r.text for r in remote.reads] == [r.text for r in local]
        for a, b in zip(remote.reads, local):
            assert a.box == pytest.approx(b.box, abs=1e-3) and a.confidence == pytest.approx(b.confidence, abs=1e-5)

    async def accuracies() -> tuple[dict, dict]:
        front_end = PipelineSettings(**CALIBRATED_ON)
        async with running_backend("onnxruntime", front_end) as local:
            scored_here = await evaluate(hold_out_set, local, front_end, batch_size=16, progress=False)
        dali = PipelineSettings(preprocessing="triton", triton_resample="dali", **CALIBRATED_ON)
        scored_there = await evaluate(hold_out_set, served, dali, batch_size=16, progress=False)
        return scored_here.metrics, scored_there.metrics

    metrics_here, metrics_dali = pipeline_server.call(accuracies(), timeout=900)
    print(f"front end {metrics_here}\ntriton, DALI resampling {metrics_dali}")
    assert metrics_here["frames"] == metrics_dali["frames"] == 200 and metrics_dali["plates"] > 300
    assert abs(metrics_dali["plate_accuracy"] - metrics_here["plate_accuracy"]) <= DALI_RESAMPLE_GAP
    assert abs(metrics_dali["detection_recall"] - metrics_here["detection_recall"]) <= 0.01


def test_every_frame_is_answered_and_encoded_frames_take_one_triton_call(pipeline_server, camera_frames) -> None:
    good = camera_frames[0].jpeg
    huffman = good.index(b"\xff\xc4")
    bogus_table = (
        good[: huffman + 5] + b"\xff" * 16 + good[huffman + 21 :]
    )  # a header that checks, a body that does not
    frames = [
        frame("cam-a", 1, good),
        frame("cam-a", 2, bogus_table),
        frame("cam-a", 3, b"not an image at all"),
        anpr_pb2.Frame(
            camera_id="cam-b",
            sequence=4,
            raw=anpr_pb2.RawImage(
                pixels=b"\x80" * (320 * 240), width=320, height=240, format=anpr_pb2.PIXEL_FORMAT_GRAY8
            ),
        ),
        *(frame(f"cam-{k}", 5 + k, camera_frames[k].jpeg) for k in range(1, 8)),
    ]
    detector_calls = _metric_sum(pipeline_server, "anpr_batch_size_count", "detector")
    pipeline_calls = _metric_sum(pipeline_server, "anpr_batch_size_count", "pipeline")
    results = {r.sequence: r for r in stream(pipeline_server.stub, iter(frames))}
    assert sorted(results) == [f.sequence for f in frames]
    assert status_name(results[2]) == "INVALID" and "corrupt image data" in results[2].reason
    assert status_name(results[3]) == "INVALID" and "neither JPEG nor PNG" in results[3].reason  # refused on receipt
    assert status_name(results[4]) == "PROCESSED" and not results[4].reads  # raw pixels: decoded here
    encoded = [1, *range(6, 13)]
    assert all(status_name(results[k]) == "PROCESSED" for k in encoded)
    truth = [camera_frames[0], *camera_frames[1:8]]
    read = sum(len({p.text for p in t.plates} & {r.text for r in results[k].reads}) for k, t in zip(encoded, truth))
    assert read >= 0.75 * sum(len(t.plates) for t in truth)
    # Encoded frames never went through the front end's two model calls; raw frames did.
    assert _metric_sum(pipeline_server, "anpr_batch_size_count", "pipeline") > pipeline_calls
    assert _metric_sum(pipeline_server, "anpr_batch_size_count", "detector") - detector_calls <= 1
    assert all(results[k].timings.decode_ms == 0 for k in encoded)


def test_the_pipeline_cuts_the_plate_patches_of_capture_records(tmp_path: Path) -> None:
    from anpr.scheduling import SchedulerPolicy
    from anpr.vehicles.passes import PassSettings
    from anpr_synth.passes import generate_pass
    from tests.server.test_vehicles import Subscription, _frames

    passes = [generate_pass(HOLD_OUT_SEED + 3, k, frame_count=8) for k in range(4)]
    settings = Settings(
        port=0,
        metrics_port=0,
        backend="triton",
        pipeline=TRITON_SIDE,
        scheduler=SchedulerPolicy(camera_queue_depth=8, max_frame_age_ms=600_000),
        passes=PassSettings(gap_ms=600),
    )
    server = RunningServer(settings)
    try:
        server.wait_ready()
        events = Subscription(server.channel, with_images=True)
        asyncio.run(asyncio.sleep(0.5))
        results = stream(server.stub, _frames(passes))
    finally:
        server.stop()
    events.thread.join(30)
    assert len(results) == 32 and all(status_name(r) == "PROCESSED" for r in results)
    records = {r.camera_id: r for r in events.of_kind("capture")}
    right = [k for k, p in enumerate(passes) if records.get(f"cam-{k:02d}") and records[f"cam-{k:02d}"].text == p.text]
    assert len(right) >= 3
    for k in right:
        patch = records[f"cam-{k:02d}"].plate_patch
        assert patch.startswith(b"\xff\xd8") and 0 < len(patch) <= 3 * 1024


def test_batched_messages_keep_the_same_accounting(pipeline_server, camera_frames) -> None:
    from tests.server.test_batched_messages import _batches, _collect

    messages, code, _ = _collect(pipeline_server.stub.StreamFrameBatches(_batches(camera_frames, 4, 12), timeout=300))
    results = [result for message in messages for result in message.results]
    assert code == grpc.StatusCode.OK
    assert sorted(r.sequence for r in results) == list(range(48))  # every frame answered exactly once
    statuses = {status_name(r) for r in results}
    assert statuses <= {"PROCESSED", "DROPPED_STALE"} and "PROCESSED" in statuses
    processed = [r for r in results if status_name(r) == "PROCESSED"]
    truth = {k: {p.text for p in camera_frames[k % len(camera_frames)].plates} for k in range(48)}
    read = sum(len(truth[r.sequence] & {p.text for p in r.reads}) for r in processed)
    assert read >= 0.75 * sum(len(truth[r.sequence]) for r in processed)
