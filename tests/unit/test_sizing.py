"""`anpr plan`: capacity arithmetic from measured numbers, and the autoscaling day simulation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from anpr.cli import main
from anpr_benchmarks.sizing import Measured, TritonHpa, measure, plan, simulate, traffic


def test_plan_derives_pods_bandwidth_and_gpus_from_measurements() -> None:
    measured = Measured(
        frame_bytes=100_000, plates_per_frame=2.0, frontend_frames_per_cpu_s=1000.0, gpu_frames_per_s=5000.0
    )
    result = plan(2300, 10, measured, wire="uint8", triton_pod_gbit=1000.0)
    assert result["frames_per_second"] == 23_000
    assert math.isclose(result["ingest_gbit_per_s"], 23_000 * 100_000 * 8 / 1e9)
    assert result["frontend_pods"] == math.ceil(23_000 / (1000 * 2 * 0.65))
    assert result["gpus"] == math.ceil(23_000 / (5000 * 0.7))  # ample network: the GPU bounds a pod
    pixels = 384 * 640 + 2 * 32 * 128
    assert math.isclose(result["triton_in_gbit_per_s"], 23_000 * pixels * 8 / 1e9)
    assert result["gpu_decode"] is None  # no GPU decode or forwarding rate measured
    unmeasured = plan(2300, 10, Measured(100_000, None, None, None))
    assert unmeasured["gpus"] is None and unmeasured["frontend_pods"] is None
    assert any("not derivable" in note for note in unmeasured["notes"])


def test_a_triton_pod_can_be_bound_by_its_network_share() -> None:
    measured = Measured(100_000, 2.0, 1000.0, gpu_frames_per_s=40_000.0)
    float32 = plan(2300, 10, measured, wire="float32", triton_pod_gbit=50.0)
    uint8 = plan(2300, 10, measured, wire="uint8", triton_pod_gbit=50.0)
    assert math.isclose(float32["triton_in_gbit_per_s"], 4 * uint8["triton_in_gbit_per_s"])
    assert float32["triton_pod_fps"] == 50e9 / 8 / ((384 * 640 + 2 * 32 * 128) * 4)  # below the GPU's 40,000
    assert float32["gpus"] > uint8["gpus"] >= math.ceil(23_000 / (40_000 * 0.7))
    assert any("network share" in note for note in float32["notes"])


def test_gpu_decode_adds_decoding_to_the_gpu_and_forwarding_to_the_front_ends() -> None:
    measured = Measured(100_000, 2.0, 250.0, 40_000.0, gpu_decode_fps=10_000.0, forward_frames_per_cpu_s=1000.0)
    alternative = plan(2300, 10, measured)["gpu_decode"]
    assert math.isclose(alternative["triton_pod_fps"], 1 / (1 / 10_000 + 1 / 40_000))
    assert alternative["gpus"] == math.ceil(23_000 / (8_000 * 0.7))
    assert alternative["frontend_pods"] == math.ceil(23_000 / (1000 * 2 * 0.65))


def test_gpu_throughput_combines_both_models_per_frame(tmp_path: Path) -> None:
    (tmp_path / "gpu").mkdir()
    (tmp_path / "eval_holdout_seed4242.json").write_text(json.dumps({"plates": 200, "frames": 100}))
    rows = [{"model": "detector", "items_per_second": 4000.0}, {"model": "recogniser", "items_per_second": 40000.0}]
    decode = [{"gpu_decode_grey_letterbox_fps": 9000.0}, {"gpu_decode_grey_letterbox_fps": 9500.0}]
    (tmp_path / "gpu" / "gpu_models_cuda.json").write_text(
        json.dumps({"gpu": "H100", "date": "x", "results": rows, "feeding": {"jpeg_decode": decode}})
    )
    measured = measure(tmp_path, frames=1)
    assert math.isclose(measured.gpu_frames_per_s, 1 / (1 / 4000 + 2 / 40000))
    assert measured.gpu_decode_fps == 9500.0
    # The detector plan is built in TF32: its TF32 rate counts once measured, not its FP16 one.
    tf32 = [{"model": "detector", "precision": "tf32", "items_per_second": 3000.0}]
    (tmp_path / "gpu" / "detector_tf32.json").write_text(json.dumps({"gpu": "H100", "results": tf32}))
    measured = measure(tmp_path, frames=1)
    assert math.isclose(measured.gpu_frames_per_s, 1 / (1 / 3000 + 2 / 40000))
    assert "detector tf32, recogniser fp16" in measured.sources["gpu"]
    assert measured.frame_bytes > 10_000 and "H100" in measured.sources["gpu"]


def test_forwarding_rate_adds_building_the_triton_request_to_the_null_model(tmp_path: Path) -> None:
    batched = {"frames_per_cpu_second": 4000.0}
    placements = {
        "machine": {"cpu": "test CPU"},
        "message_shapes": {"1280x720": {"triton": {"batched": batched}}},
    }
    (tmp_path / "overhead_placements.json").write_text(json.dumps(placements))
    assert measure(tmp_path, frames=1).forward_frames_per_cpu_s == 4000.0
    placements["forwarding_per_frame"] = {"triton": {"us_per_frame": 150.0}}
    (tmp_path / "overhead_placements.json").write_text(json.dumps(placements))
    measured = measure(tmp_path, frames=1)
    assert math.isclose(measured.forward_frames_per_cpu_s, 1 / (250e-6 + 150e-6))  # 2,500 frames per CPU-second
    assert "150 us" in measured.sources["forward"]


def test_day_simulation_scales_with_load_and_counts_drops() -> None:
    minutes = np.arange(0, 24 * 60)
    assert math.isclose(float(traffic(minutes).max()), 1.0, rel_tol=0.02)
    ample = simulate(peak_fps=10_000, pod_fps=2_000)
    assert ample["frames_dropped"] == 0 and 2 <= min(ample["pods"]) < max(ample["pods"])
    assert ample["gpu_hours"] >= 2 * 24
    slow_start = simulate(peak_fps=10_000, pod_fps=2_000, pod_start_s=3600, hpa=TritonHpa(max_pods=4))
    assert slow_start["frames_dropped"] > 0  # capped below the peak: frames are lost


def test_plan_cli_refuses_to_simulate_without_a_measured_pod_rate(tmp_path: Path, capsys) -> None:
    assert main(["plan", "--results", str(tmp_path), "--simulate", "--out", str(tmp_path)]) == 2
    assert "--pod-fps" in capsys.readouterr().err
    assert main(["plan", "--results", str(tmp_path), "--simulate", "--pod-fps", "3000", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "plan_simulation.png").stat().st_size > 5_000
