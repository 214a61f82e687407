"""`anpr plan`: GPUs, front-end pods and bandwidth for a camera network, from measured numbers only.

Every input comes from a file in benchmarks/results/ (which names its machine) or is measured when
the plan runs (JPEG sizes of the synthetic 1280x720 frames). Where a number was never measured (no
GPU benchmark yet), the plan says so instead of guessing. `--simulate` replays a day of traffic
through the HPA rules of k8s/overlays/gpu-prod to count dropped frames and GPU-hours.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TARGET_UTILISATION = 0.7  # HPA target: the queue:compute ratio of 0.5 corresponds to ~70% busy
FRONTEND_CPUS_PER_POD = 2  # k8s/base/frontend.yaml requests


@dataclass
class Measured:
    frame_bytes: float
    plates_per_frame: float | None
    frontend_frames_per_cpu_s: float | None
    gpu_frames_per_s: float | None
    sources: dict[str, str] = field(default_factory=dict)  # what each number came from


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def measure(results: Path, frames: int = 8) -> Measured:
    from anpr_training.synth import generate_frame

    sizes = [len(generate_frame(6000, k, frame_size=(1280, 720)).jpeg) for k in range(frames)]
    measured = Measured(
        float(np.mean(sizes)),
        None,
        None,
        None,
        {"frame_bytes": f"mean of {frames} synthetic 1280x720 JPEGs, measured now"},
    )
    evaluation = _load(results / "eval_holdout_seed4242.json")
    if evaluation:
        measured.plates_per_frame = evaluation["plates"] / evaluation["frames"]
        measured.sources["plates_per_frame"] = "eval_holdout_seed4242.json (synthetic hold-out)"
    overhead = _load(results / "overhead.json")
    if overhead:
        measured.frontend_frames_per_cpu_s = overhead["null_model"]["frames_per_cpu_second"]
        measured.sources["frontend"] = f"overhead.json null model on {overhead['machine']['cpu']}"
    gpu = _load(results / "gpu" / "gpu_models_cuda.json")
    if gpu and measured.plates_per_frame:
        best = {
            m: max(r["items_per_second"] for r in gpu["results"] if r["model"] == m) for m in ("detector", "recogniser")
        }
        # One GPU runs both models: frames/s where detector and recogniser time add up to 1 s.
        measured.gpu_frames_per_s = 1.0 / (1.0 / best["detector"] + measured.plates_per_frame / best["recogniser"])
        measured.sources["gpu"] = f"gpu/gpu_models_cuda.json on {gpu['gpu']} ({gpu['date']}, PyTorch FP16)"
    return measured


def plan(cameras: int, fps: float, measured: Measured) -> dict:
    total = cameras * fps
    result: dict = {
        "cameras": cameras,
        "fps_per_camera": fps,
        "frames_per_second": total,
        "ingest_gbit_per_s": total * measured.frame_bytes * 8 / 1e9,
        "frame_kib": measured.frame_bytes / 1024,
        "sources": measured.sources,
        "frontend_pods": None,
        "gpus": None,
        "notes": [],
    }
    if measured.frontend_frames_per_cpu_s:
        per_pod = measured.frontend_frames_per_cpu_s * FRONTEND_CPUS_PER_POD * TARGET_UTILISATION
        result["frontend_pods"] = math.ceil(total / per_pod)
        result["notes"].append(
            f"front end: {measured.frontend_frames_per_cpu_s:.0f} frames per CPU-second "
            f"(JPEG decode on the CPU), {FRONTEND_CPUS_PER_POD} CPUs a pod at "
            f"{TARGET_UTILISATION:.0%}"
        )
    else:
        result["notes"].append("front end: no overhead.json; run `anpr bench overhead`")
    if measured.gpu_frames_per_s:
        result["gpus"] = math.ceil(total / (measured.gpu_frames_per_s * TARGET_UTILISATION))
        result["notes"].append(f"GPU: {measured.gpu_frames_per_s:.0f} frames/s each (both models)")
    else:
        result["notes"].append(
            "GPUs: not derivable, no GPU benchmark in benchmarks/results/gpu/ "
            "(run benchmarks/gpu/run_gpu_bench.py on a GPU)"
        )
    return result


def traffic(minute: np.ndarray) -> np.ndarray:
    """Share of the peak frame rate over a day: night floor, morning and evening rush hours."""
    hours = minute / 60.0
    rush = np.exp(-((hours - 8.0) ** 2) / 1.0) + np.exp(-((hours - 17.5) ** 2) / 1.5)
    day = 0.55 * np.exp(-((hours - 13.0) ** 2) / 18.0)
    shape = 0.12 + day + 0.5 * rush
    return shape / (0.12 + 0.55 * np.exp(-((17.5 - 13.0) ** 2) / 18.0) + 0.5 * (1 + np.exp(-(9.5**2) / 1.5)))


def simulate(
    peak_fps: float,
    pod_fps: float,
    pod_start_s: float = 240.0,
    min_pods: int = 2,
    max_pods: int = 64,
    failure_minute: int = 14 * 60,
    step_s: float = 15.0,
) -> dict:
    """A day through the HPA: target utilisation 70%, scale-up window 60 s and +2 pods a 120 s,
    scale-down window 900 s and -1 pod a 300 s, pods ready `pod_start_s` after they are asked for,
    and one pod lost at `failure_minute` (its replacement starts then)."""
    steps = int(24 * 3600 / step_s)
    t = np.arange(steps) * step_s
    offered = peak_fps * traffic(t / 60.0)
    ready = min_pods
    starting: list[float] = []  # ready times of pods being started
    recommendations: list[tuple[float, int]] = []
    last_up = last_down = -1e9
    ready_history: list[int] = []
    asked_history: list[int] = []
    dropped = gpu_seconds = 0.0
    for k, now in enumerate(t):
        ready += sum(at <= now for at in starting)
        starting = [at for at in starting if at > now]
        if int(now // 60) == failure_minute and now % 60 == 0:
            ready -= 1
            starting.append(now + pod_start_s)
        capacity = ready * pod_fps
        dropped += max(0.0, offered[k] - capacity) * step_s
        utilisation = offered[k] / max(capacity, 1e-9)
        desired = min(max(math.ceil(ready * utilisation / TARGET_UTILISATION), min_pods), max_pods)
        recommendations = [(at, n) for at, n in recommendations if at > now - 900] + [(now, desired)]
        current = ready + len(starting)
        up = min(n for at, n in recommendations if at > now - 60)
        down = max(n for at, n in recommendations)
        if up > current and now - last_up >= 120:
            starting += [now + pod_start_s] * min(up - current, 2)
            last_up = now
        elif down < current and now - last_down >= 300 and ready > min_pods:
            ready -= 1
            last_down = now
        ready_history.append(ready)
        asked_history.append(ready + len(starting))
        gpu_seconds += (ready + len(starting)) * step_s
    return {
        "t_minutes": (t / 60).tolist(),
        "offered_fps": offered.tolist(),
        "ready_pods": ready_history,
        "pods": asked_history,
        "pod_fps": pod_fps,
        "frames_offered": float(offered.sum() * step_s),
        "frames_dropped": dropped,
        "gpu_hours": gpu_seconds / 3600,
    }


def plot_simulation(sim: dict, path: Path) -> None:
    from anpr_benchmarks.common import pyplot, save_figure

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(11, 4))
    hours = np.array(sim["t_minutes"]) / 60
    axis.plot(hours, sim["offered_fps"], label="offered frames/s")
    axis.plot(hours, np.array(sim["ready_pods"]) * sim["pod_fps"], label="ready capacity frames/s")
    axis.set_xlabel("hour of day")
    axis.set_ylabel("frames/s")
    twin = axis.twinx()
    twin.step(hours, sim["pods"], color="grey", alpha=0.5, label="pods asked for")
    twin.set_ylabel("pods")
    axis.set_title(
        f"one day: {sim['frames_dropped'] / max(sim['frames_offered'], 1):.3%} of frames dropped, "
        f"{sim['gpu_hours']:.0f} pod-hours"
    )
    axis.legend(loc="upper left")
    save_figure(figure, path)
