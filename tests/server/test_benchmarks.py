"""Small, fast variants of the benchmarks, to keep them working (speed is not asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anpr.cli import main
from tests.repo import ROOT


def _bench_models(labelled: Path, out: Path, name: str, *extra: str) -> dict:
    args = ["bench", "models", "--labelled", str(labelled), "--backend", "onnxruntime", "--budget-s", "0.05"]
    assert main([*args, "--out", str(out), "--name", name, *extra]) == 0
    return json.loads((out / f"{name}.json").read_text())


def test_model_version_benchmark_compares_every_shipped_version(
    tiny_labelled_set: Path, tmp_path: Path, model_repository: Path
) -> None:
    payload = _bench_models(tiny_labelled_set, tmp_path, "quick", "--batch-sizes", "1", "2")
    assert payload["machine"]["cores"] >= 1
    shipped = {f"v{p.parent.name}" for p in (model_repository / "plate_detector").glob("*/model.onnx")}
    assert {"v1", "v2"} <= shipped
    assert [r["candidate"] for r in payload["results"]] == sorted(shipped, key=lambda v: int(v[1:]))
    for result in payload["results"]:
        assert result["accuracy"]["frames"] == 12
        points = {(r["backend"], r["model"], r["batch_size"]) for r in result["speed"]}
        assert points == {("onnxruntime", m, n) for m in ("detector", "recogniser") for n in (1, 2)}
        assert all(r["items_per_second"] > 0 and r["calls"] >= 3 for r in result["speed"])
    assert (tmp_path / "quick.png").stat().st_size > 5_000


def test_model_benchmark_compares_given_onnx_files(
    tiny_labelled_set: Path, tmp_path: Path, model_repository: Path
) -> None:
    files = ("--detector", str(model_repository / "plate_detector/1/model.onnx"))
    files += ("--recogniser", str(model_repository / "plate_recogniser/1/model.onnx"))
    payload = _bench_models(tiny_labelled_set, tmp_path, "files", "--batch-sizes", "1", *files)
    (result,) = payload["results"]
    assert result["candidate"] == "model+model"


def test_feed_simulator_runs_loads_and_accounts_for_every_frame(tmp_path: Path) -> None:
    args = [
        "bench",
        "feeds",
        "--cameras",
        "4",
        "--seconds",
        "2",
        "--loads",
        "0.5",
        "2",
        "--backend",
        "onnxruntime",
        "--workers",
        "2",
        "--streams",
        "4",
        "--out",
        str(tmp_path),
        "--name",
        "quick",
    ]
    assert main(args) == 0
    payload = json.loads((tmp_path / "quick.json").read_text())
    assert payload["capacity_fps"] > 0 and [r["load_vs_capacity"] for r in payload["runs"]] == [0.5, 2.0]
    for run in payload["runs"]:
        assert run["answered"] == run["sent"] == sum(run["statuses"].values())
        assert run["streams"] == 4  # two streams in each of the two client processes
        assert 0 < run["jain_fairness"] <= 1 and run["latency_ms"]["p50"] > 0
    assert (tmp_path / "quick.png").stat().st_size > 5_000


def test_steady_growth_skips_warm_up() -> None:
    from anpr_benchmarks.feeds import steady_growth

    assert steady_growth([100, 300, 300, 300, 300, 300, 300, 300]) == 0.0  # warm-up, then flat
    assert steady_growth([100, 100, 200, 200, 210, 210, 220, 220]) == pytest.approx(0.1)
    assert steady_growth([100, 200]) is None


def test_jain_index_known_values() -> None:
    from anpr_benchmarks.feeds import jain_index

    assert jain_index([0.5, 0.5, 0.5, 0.5]) == 1.0
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == 0.25
    assert abs(jain_index([1.0, 0.5]) - 0.9) < 1e-12


def test_overhead_benchmark_compares_server_and_bare_backend(tmp_path: Path) -> None:
    args = [
        "bench",
        "overhead",
        "--backend",
        "onnxruntime",
        "--batch-size",
        "4",
        "--seconds",
        "2",
        "--cameras",
        "4",
        "--out",
        str(tmp_path),
        "--name",
        "quick",
    ]
    assert main(args) == 0
    payload = json.loads((tmp_path / "quick.json").read_text())
    assert payload["bare_backend_fps"] > 0 and payload["server_fps"] > 0
    assert payload["server_vs_bare"] == payload["server_fps"] / payload["bare_backend_fps"]
    assert payload["null_model"]["frames_per_cpu_second"] > 0
    small = payload["null_model_small_frames"]
    assert small["frame_size"] == [160, 90] and small["frames_per_cpu_second"] > 0
    assert small["run"]["answered"] == small["run"]["sent"]
    assert payload["server_run"]["answered"] == payload["server_run"]["sent"]
    for size in ("1280x720", "160x90"):
        placements = payload["message_shapes"][size]
        assert set(placements) == {"front_end", "triton", "grpc_floor"}
        floor, forwarding = placements["grpc_floor"], placements["triton"]
        assert floor["batched"]["offered_fps"] == forwarding["batched"]["offered_fps"]  # the same load
        for shapes in placements.values():
            assert set(shapes) == {"single", "batched"}
            for measured in shapes.values():
                assert measured["run"]["answered"] == measured["run"]["sent"] > 0
                assert measured["frames_per_cpu_second"] > 0
    decode = payload["decode_ms_per_frame"]
    assert decode["speedup"] == decode["colour_then_grey"] / decode["luminance"] and decode["luminance"] > 0
    request = payload["forwarding_per_frame"]
    assert request["front_end"]["bytes_per_frame"] > 384 * 640 > request["triton"]["bytes_per_frame"] > 10_000
    assert request["triton"]["us_per_frame"] > 0
    assert (tmp_path / "quick.png").stat().st_size > 5_000


def test_gpu_script_runs_on_the_cpu_and_writes_its_results(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = ROOT / "benchmarks" / "gpu" / "run_gpu_bench.py"
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--device",
            "cpu",
            "--batch-sizes",
            "1",
            "2",
            "--iterations",
            "1",
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    payload = json.loads((tmp_path / "gpu_models_cpu.json").read_text())
    assert {(r["model"], r["batch_size"]) for r in payload["results"]} == {
        (m, n) for m in ("detector", "recogniser") for n in (1, 2)
    }
    assert payload["feeding"] == {"skipped": "no GPU"}  # host-to-GPU copies and nvJPEG need a GPU
    png = tmp_path / "gpu_models_cpu.png"
    assert png.stat().st_size > 5_000
    png.unlink()
    redraw = [sys.executable, str(script), "--plot", str(tmp_path / "gpu_models_cpu.json")]
    subprocess.run(redraw, check=True, capture_output=True, timeout=120)
    assert png.stat().st_size > 5_000


def test_accuracy_benchmark_scores_each_version_on_each_set(tiny_labelled_set: Path, tmp_path: Path) -> None:
    args = ["bench", "accuracy", str(tiny_labelled_set), "--versions", "1", "2", "--out", str(tmp_path)]
    assert main([*args, "--name", "quick"]) == 0
    payload = json.loads((tmp_path / "quick.json").read_text())
    scores = payload["versions"]["v1"][tiny_labelled_set.name]
    assert scores["frames"] == 12 and scores["split"] is None  # a synthetic set: held out whole
    assert 0 < scores["plate_accuracy"] <= 1
    # The paired count is of the same plates: its difference is the difference of plate accuracies.
    paired = payload["paired"]["v1 vs v2"][tiny_labelled_set.name]
    newer = payload["versions"]["v2"][tiny_labelled_set.name]
    assert paired["plates"] == scores["plates_with_text"]
    assert (paired["only_b"] - paired["only_a"]) / paired["plates"] == pytest.approx(
        newer["plate_accuracy"] - scores["plate_accuracy"]
    )
    assert 0 < paired["p_value"] <= 1
    assert (tmp_path / "quick.png").stat().st_size > 5_000
    assert (tmp_path / "quick_errors" / tiny_labelled_set.name / "errors.json").exists()


def test_hotlist_benchmark_matches_against_a_large_list_and_finds_every_planted_plate(tmp_path: Path) -> None:
    from anpr_benchmarks.hotlist import histogram_quantile

    assert main(["bench", "hotlist", "--matching-only", "--out", str(tmp_path), "--name", "quick"]) == 0
    matching = json.loads((tmp_path / "quick.json").read_text())["matching"]
    assert matching["entries"] == 100_000 and matching["reads_matched_per_cpu_s"] > 0
    assert matching["reads_with_a_match"] >= matching["reads"] // 50  # the 2% planted: listed, look-alike, cut
    assert (tmp_path / "quick.png").stat().st_size > 5_000
    # PromQL's interpolation: 10 observations in (0, 0.1], 10 in (0.1, 0.2]: the median is 0.1, p75 0.15
    buckets = {0.1: 10.0, 0.2: 20.0, float("inf"): 20.0}
    assert histogram_quantile(0.5, {}, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, {}, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.5, buckets, buckets) is None


def test_deadline_benchmark_runs_every_budget_at_one_overload_on_one_server(tmp_path: Path) -> None:
    args = ["bench", "deadlines", "--cameras", "4", "--seconds", "2", "--budgets", "400", "--repeats", "2"]
    assert main([*args, "--backend", "onnxruntime", "--out", str(tmp_path), "--name", "quick"]) == 0
    payload = json.loads((tmp_path / "quick.json").read_text())
    assert [r["budget_ms"] for r in payload["runs"]] == [None, 400, 400, None]  # alternating rounds
    for run in payload["runs"]:
        assert run["answered"] == run["sent"] == sum(run["statuses"].values())
        assert run["learned_batch_seconds"]["one"] > 0  # the server learned batch times
    assert set(payload["runs"][1]["meets"]) == {"p99_within_budget", "throughput_0_9_capacity", "jain_0_99"}
    assert (tmp_path / "quick.png").stat().st_size > 5_000


def test_deadline_model_runs_on_a_gpu_scripts_batch_times(tmp_path: Path) -> None:
    gpu = ROOT / "benchmarks" / "results" / "gpu"
    args = ["bench", "deadlines", "--gpu", str(gpu / "gpu_models_cuda.json"), "--gpu-detector"]
    args += [str(gpu / "detector_tf32.json"), "--cameras", "100", "--seconds", "1", "--budgets", "50"]
    assert main([*args, "--out", str(tmp_path), "--name", "gpu"]) == 0
    payload = json.loads((tmp_path / "gpu.json").read_text())
    # An H100's batch of 32: detector TF32 + recogniser FP16 for 61 plates + 2 ms, a few milliseconds.
    assert 2.0 < payload["batch_ms"]["32"] < 10.0
    budgeted = payload["runs"][1]
    assert budgeted["budget_ms"] == 50 and budgeted["latency_ms"]["p99"] <= 50


def test_video_benchmark_decodes_h264_and_vp8_with_aiortcs_decoders(tmp_path: Path) -> None:
    assert main(["bench", "video", "--frames", "12", "--out", str(tmp_path), "--name", "quick"]) == 0
    payload = json.loads((tmp_path / "quick.json").read_text())
    assert {(r["codec"], r["grey"]) for r in payload["results"]} == {(c, g) for c in ("H264", "VP8") for g in (0, 1)}
    for row in payload["results"]:
        assert row["frames"] == 12 and row["frames_per_cpu_second"] > 0 and 0 < row["mbit_per_s"] < 20
    assert payload["size"] == [1280, 720]
