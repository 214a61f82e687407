"""Metrics and per-camera stats from a live server: exact counts, promtool, a real Prometheus."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from anpr.api.v1 import anpr_pb2
from anpr.config import Settings
from anpr.scheduling import SchedulerPolicy
from tests.repo import tool
from tests.serving import RunningServer, frame, status_name, stream

VERSION = str(Settings().pipeline.detector_version)  # the default this server was started with


@pytest.fixture(scope="module")
def observed(camera_frames):
    """A server that has answered a known mix of frames: processed, stale, invalid."""
    server = RunningServer(
        Settings(
            port=0, metrics_port=0, backend="onnxruntime", scheduler=SchedulerPolicy(camera_queue_depth=1, max_batch=2)
        )
    )
    server.wait_ready(60)
    jpeg = camera_frames[0].jpeg
    frames = [frame(f"cam-{k % 3}", k, camera_frames[k % len(camera_frames)].jpeg) for k in range(30)]
    frames += [frame("cam-0", 100, b"not an image"), frame("cam-1", 101, jpeg[:500]), frame("", 102, jpeg)]
    results = stream(server.stub, iter(frames))
    server.frames_sent = len(frames)
    server.results = results
    yield server
    server.stop()


def scrape(server: RunningServer) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10) as response:
        return response.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_frame_in_is_counted_once_out_by_status(observed: RunningServer) -> None:
    values = samples(scrape(observed))
    assert values[("anpr_frames_received_total", ())] == observed.frames_sent
    answered = {dict(labels)["status"]: 0.0 for (name, labels) in values if name == "anpr_frames_answered_total"}
    for (name, labels), value in values.items():
        if name == "anpr_frames_answered_total":
            answered[dict(labels)["status"]] += value
    expected = Counter(status_name(r) for r in observed.results)
    assert answered == {status: float(count) for status, count in expected.items()}
    assert sum(answered.values()) == observed.frames_sent
    assert expected["INVALID"] == 3 and expected["DROPPED_STALE"] > 0  # the mix really was mixed
    assert values[("anpr_frames_processed_total", ())] == expected["PROCESSED"]
    assert values[("anpr_plate_reads_total", ())] == sum(len(r.reads) for r in observed.results)
    invalid = {
        dict(labels)["reason"]
        for (name, labels) in values
        if name == "anpr_frames_answered_total" and dict(labels)["status"] == "INVALID"
    }
    assert invalid == {"unsupported_format", "corrupt", "missing_camera_id"}
    assert values[("anpr_batch_size_count", (("model", "detector"),))] >= 1
    assert values[("anpr_stage_latency_seconds_count", (("stage", "end_to_end"),))] == expected["PROCESSED"]
    info = (("backend", "onnxruntime"), ("model", "plate_detector"), ("version", VERSION))
    assert values[("anpr_model_info", info)] == 1


def test_gauges_show_the_cameras_seen_and_an_empty_queue(observed: RunningServer) -> None:
    """Gauges refresh every second: polled until they do, with a deadline (no fixed sleep)."""
    deadline = time.monotonic() + 10
    while True:
        values = samples(scrape(observed))
        gauges = (values[("anpr_active_cameras", ())], values[("anpr_scheduler_queued_frames", ())])
        if gauges == (3.0, 0.0) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert gauges == (3.0, 0.0)  # cam-0, cam-1, cam-2 (the frame without a camera id is not a camera)
    assert values[("anpr_frames_in_flight", ())] == 0.0


def test_metrics_carry_no_camera_ids_or_plate_text(observed: RunningServer) -> None:
    text = scrape(observed)
    assert "cam-" not in text
    for result in observed.results:
        for read in result.reads:
            assert read.text not in text


def test_promtool_accepts_the_live_exposition(observed: RunningServer) -> None:
    checked = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=scrape(observed), capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_get_stats_lists_per_camera_counts(observed: RunningServer) -> None:
    stats = observed.stub.GetStats(anpr_pb2.GetStatsRequest(), timeout=10)
    by_camera = {c.camera_id: c for c in stats.cameras}
    assert set(by_camera) == {"cam-0", "cam-1", "cam-2"}
    for camera_id, camera in by_camera.items():
        mine = [r for r in observed.results if r.camera_id == camera_id]
        assert camera.received == len(mine)
        assert camera.processed == sum(status_name(r) == "PROCESSED" for r in mine)
        assert camera.dropped == sum(status_name(r).startswith("DROPPED") for r in mine)
        assert camera.invalid == sum(status_name(r) == "INVALID" for r in mine)
        assert camera.last_frame_age_s >= 0
    only = observed.stub.GetStats(anpr_pb2.GetStatsRequest(camera_ids=["cam-2"]), timeout=10)
    assert [c.camera_id for c in only.cameras] == ["cam-2"]


def test_a_real_prometheus_scrapes_the_server_and_promql_sees_the_counts(
    observed: RunningServer, tmp_path: Path
) -> None:
    from anpr.inference.triton_process import free_port

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "anpr", "static_configs": [{"targets": [f"127.0.0.1:{observed.server.metrics_port}"]}]}
                ],
            }
        )
    )
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = urllib.parse.quote('sum by (status) (anpr_frames_answered_total{job="anpr"})')
        deadline, got = time.monotonic() + 60, {}
        while time.monotonic() < deadline and not got:
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?query={query}", timeout=5) as r:
                    body = json.load(r)
            except OSError:
                continue
            got = {s["metric"]["status"]: float(s["value"][1]) for s in body["data"]["result"]}
        expected = Counter(status_name(r) for r in observed.results)
        assert got == {status: float(count) for status, count in expected.items()}
    finally:
        process.terminate()
        process.wait(20)


def test_anpr_stats_prints_the_cameras(observed: RunningServer, capsys) -> None:
    from anpr.cli import main

    assert main(["stats", "--address", f"127.0.0.1:{observed.port}"]) == 0
    out = capsys.readouterr().out
    assert all(f"cam-{k}" in out for k in range(3))
    assert main(["stats", "--address", "127.0.0.1:1"]) == 2
