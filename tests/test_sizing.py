"""`anpr plan`: capacity arithmetic from measured numbers, and the autoscaling day simulation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from anpr.cli import main
from anpr.deployment.sizing import Measured, measure, plan, simulate, traffic


def test_plan_derives_pods_bandwidth_and_gpus_from_measurements() -> None:
    measured = Measured(
        frame_bytes=100_000, plates_per_frame=2.0, frontend_frames_per_cpu_s=1000.0, gpu_frames_per_s=5000.0
    )
    result = plan(2300, 10, measured)
    assert result["frames_per_second"] == 23_000
    assert math.isclose(result["ingest_gbit_per_s"], 23_000 * 100_000 * 8 / 1e9)
    assert result["frontend_pods"] == math.ceil(23_000 / (1000 * 2 * 0.7))
    assert result["gpus"] == math.ceil(23_000 / (5000 * 0.7))
    unmeasured = plan(2300, 10, Measured(100_000, None, None, None))
    assert unmeasured["gpus"] is None and unmeasured["frontend_pods"] is None
    assert any("not derivable" in note for note in unmeasured["notes"])


def test_gpu_throughput_combines_both_models_per_frame(tmp_path: Path) -> None:
    (tmp_path / "gpu").mkdir()
    (tmp_path / "eval_holdout_seed4242.json").write_text(json.dumps({"plates": 200, "frames": 100}))
    rows = [{"model": "detector", "items_per_second": 4000.0}, {"model": "recogniser", "items_per_second": 40000.0}]
    (tmp_path / "gpu" / "gpu_models_cuda.json").write_text(json.dumps({"gpu": "H100", "date": "x", "results": rows}))
    measured = measure(tmp_path, frames=1)
    assert math.isclose(measured.gpu_frames_per_s, 1 / (1 / 4000 + 2 / 40000))
    assert measured.frame_bytes > 10_000 and "H100" in measured.sources["gpu"]


def test_day_simulation_scales_with_load_and_counts_drops() -> None:
    minutes = np.arange(0, 24 * 60)
    assert math.isclose(float(traffic(minutes).max()), 1.0, rel_tol=0.02)
    ample = simulate(peak_fps=10_000, pod_fps=2_000)
    assert ample["frames_dropped"] == 0 and 2 <= min(ample["pods"]) < max(ample["pods"])
    assert ample["gpu_hours"] >= 2 * 24
    slow_start = simulate(peak_fps=10_000, pod_fps=2_000, pod_start_s=3600, max_pods=4)
    assert slow_start["frames_dropped"] > 0  # capped below the peak: frames are lost


def test_plan_cli_refuses_to_simulate_without_a_measured_pod_rate(tmp_path: Path, capsys) -> None:
    assert main(["plan", "--results", str(tmp_path), "--simulate", "--out", str(tmp_path)]) == 2
    assert "--pod-fps" in capsys.readouterr().err
    assert main(["plan", "--results", str(tmp_path), "--simulate", "--pod-fps", "3000", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "plan_simulation.png").stat().st_size > 5_000
