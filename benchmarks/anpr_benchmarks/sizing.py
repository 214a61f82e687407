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

from anpr.contract import DETECTOR, RECOGNISER, ModelSpec
from anpr_benchmarks.common import pyplot, save_figure
from anpr_synth import generate_frame

TARGET_UTILISATION = 0.7  # Triton HPA target: the queue:compute ratio of 0.5 corresponds to ~70% busy
FRONTEND_TARGET_UTILISATION = 0.65  # front-end HPA target CPU (k8s/base/frontend.yaml)
FRONTEND_CPUS_PER_POD = 2  # k8s/base/frontend.yaml requests
TRITON_POD_GBIT = 50.0  # assumed network share of a one-GPU Triton pod (an 8-GPU node with 4x100 GbE)
PLACEMENT_OVERHEAD = "overhead_placements.json"  # `anpr bench overhead --name overhead_placements`
WIRE_BYTES = {"uint8": 1, "float32": 4}  # per pixel sent to Triton; the models take uint8


def _pixels(spec: ModelSpec) -> int:
    return math.prod(spec.input.dims)


def _output_bytes(spec: ModelSpec) -> int:
    return sum(output.bytes_per_item for output in spec.outputs)


@dataclass
class Measured:
    frame_bytes: float
    plates_per_frame: float | None
    frontend_frames_per_cpu_s: float | None
    gpu_frames_per_s: float | None  # both models on one GPU, pixels in
    gpu_decode_fps: float | None = None  # JPEG decode + grey + letterbox on one GPU
    forward_frames_per_cpu_s: float | None = None  # front end with next to nothing to decode (160x90)
    sources: dict[str, str] = field(default_factory=dict)  # what each number came from


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def measure(results: Path, frames: int = 8) -> Measured:
    sizes = [len(generate_frame(6000, k, frame_size=(1280, 720)).jpeg) for k in range(frames)]
    measured = Measured(
        float(np.mean(sizes)),
        None,
        None,
        None,
        sources={"frame_bytes": f"mean of {frames} synthetic 1280x720 JPEGs, measured now"},
    )
    evaluation = _load(results / "eval_holdout_seed4242.json")
    if evaluation:
        measured.plates_per_frame = evaluation["plates"] / evaluation["frames"]
        measured.sources["plates_per_frame"] = "eval_holdout_seed4242.json (synthetic hold-out)"
    overhead = _load(results / "overhead.json")
    if overhead:
        measured.frontend_frames_per_cpu_s = overhead["null_model"]["frames_per_cpu_second"]
        measured.sources["frontend"] = f"overhead.json null model on {overhead['machine']['cpu']}"
        if "null_model_small_frames" in overhead:
            measured.forward_frames_per_cpu_s = overhead["null_model_small_frames"]["frames_per_cpu_second"]
            measured.sources["forward"] = "overhead.json null model with 160x90 frames (a stand-in for forwarding)"
    # The front end forwarding 720p JPEG bytes to Triton's plate_pipeline, as built: batched messages.
    placed = _load(results / PLACEMENT_OVERHEAD)
    forwarding = (placed or {}).get("message_shapes", {}).get("1280x720", {}).get("triton", {}).get("batched")
    if forwarding and forwarding.get("frames_per_cpu_second"):
        rate = forwarding["frames_per_cpu_second"]
        source = (
            f"{PLACEMENT_OVERHEAD}: null model, 1280x720 JPEGs, pre-processing in Triton, a batch a message, "
            f"on {placed['machine']['cpu']}"
        )
        # The null model sends nothing: building each frame's Triton request comes on top.
        request_us = ((placed or {}).get("forwarding_per_frame") or {}).get("triton", {}).get("us_per_frame")
        if request_us:
            rate = 1 / (1 / rate + request_us / 1e6)
            source += f", plus {request_us:.0f} us a frame to build its Triton request"
        measured.forward_frames_per_cpu_s = rate
        measured.sources["forward"] = source
    gpu = _load(results / "gpu" / "gpu_models_cuda.json")
    if gpu and measured.plates_per_frame:
        rates = _model_rates([gpu, _load(results / "gpu" / "detector_tf32.json")])
        # One GPU runs both models: frames/s where detector and recogniser time add up to 1 s.
        measured.gpu_frames_per_s = _combined(rates["detector"][1], rates["recogniser"][1] / measured.plates_per_frame)
        precisions = ", ".join(f"{model} {precision}" for model, (precision, _) in rates.items())
        measured.sources["gpu"] = f"gpu/*.json on {gpu['gpu']} ({gpu['date']}, PyTorch: {precisions})"
        decode = gpu.get("feeding", {}).get("jpeg_decode")
        if isinstance(decode, dict):  # an older file: one batch size
            decode = [decode]
        key = "gpu_decode_grey_letterbox_fps"
        decoded = [row[key] for row in decode or [] if key in row]
        if decoded:
            measured.gpu_decode_fps = max(decoded)
    return measured


def _model_rates(files: list[dict | None]) -> dict[str, tuple[str, float]]:
    """Per model, the best measured items/s in the precision its TensorRT plan is built in (FP16 or
    TF32, the model contract's `plan_precision`), or in FP16 where that precision was not measured (an older file)."""
    rows = [{"precision": file.get("precision", "fp16"), **row} for file in files if file for row in file["results"]]
    rates: dict[str, tuple[str, float]] = {}
    for spec in (DETECTOR, RECOGNISER):
        for precision in (spec.plan_precision, "fp16"):
            found = [r["items_per_second"] for r in rows if r["model"] == spec.role and r["precision"] == precision]
            if found:
                rates[spec.role] = (precision, max(found))
                break
    return rates


def _combined(*rates: float) -> float:
    """Items/s of one worker doing each stage in turn: the stage times add up."""
    return 1.0 / sum(1.0 / rate for rate in rates)


def plan(
    cameras: int, fps: float, measured: Measured, wire: str = "uint8", triton_pod_gbit: float = TRITON_POD_GBIT
) -> dict:
    """Two layouts. As built: front ends decode and letterbox, Triton gets pixels (`wire` type), so a
    Triton pod is bound by its GPU or by its network share. GPU decode (docs/DESIGN.md's next step at this scale): front
    ends forward the JPEG bytes and Triton decodes them (nvJPEG) before the models."""
    total = cameras * fps
    plates = measured.plates_per_frame or 0.0
    pixels_in = (_pixels(DETECTOR) + plates * _pixels(RECOGNISER)) * WIRE_BYTES[wire]
    bytes_out = _output_bytes(DETECTOR) + plates * _output_bytes(RECOGNISER)
    result: dict = {
        "cameras": cameras,
        "fps_per_camera": fps,
        "frames_per_second": total,
        "ingest_gbit_per_s": total * measured.frame_bytes * 8 / 1e9,
        "frame_kib": measured.frame_bytes / 1024,
        "wire": wire,
        "triton_pod_gbit": triton_pod_gbit,
        "triton_in_gbit_per_s": total * pixels_in * 8 / 1e9,
        "triton_out_gbit_per_s": total * bytes_out * 8 / 1e9,
        "sources": measured.sources,
        "frontend_pods": None,
        "gpus": None,
        "triton_pod_fps": None,
        "gpu_decode": None,
        "notes": [],
    }
    if measured.frontend_frames_per_cpu_s:
        per_pod = measured.frontend_frames_per_cpu_s * FRONTEND_CPUS_PER_POD * FRONTEND_TARGET_UTILISATION
        result["frontend_pods"] = math.ceil(total / per_pod)
        result["notes"].append(
            f"front end: {measured.frontend_frames_per_cpu_s:.0f} frames per CPU-second "
            f"(JPEG decode on the CPU), {FRONTEND_CPUS_PER_POD} CPUs a pod at "
            f"{FRONTEND_TARGET_UTILISATION:.0%}"
        )
    else:
        result["notes"].append("front end: no overhead.json; run `anpr bench overhead`")
    if not measured.gpu_frames_per_s:
        result["notes"].append(
            "GPUs: not derivable, no GPU benchmark in benchmarks/results/gpu/ "
            "(run benchmarks/gpu/run_gpu_bench.py on a GPU)"
        )
        return result
    network_fps = triton_pod_gbit * 1e9 / 8 / max(pixels_in, bytes_out)
    result["triton_pod_fps"] = min(measured.gpu_frames_per_s, network_fps)
    result["gpus"] = math.ceil(total / (result["triton_pod_fps"] * TARGET_UTILISATION))
    bound = "its network share" if network_fps < measured.gpu_frames_per_s else "the GPU"
    result["notes"].append(
        f"Triton pod (one GPU): models {measured.gpu_frames_per_s:.0f} frames/s, network "
        f"{network_fps:.0f} frames/s of {wire} pixels at {triton_pod_gbit:g} Gbit/s (assumed): bound by {bound}"
    )
    if measured.gpu_decode_fps and measured.forward_frames_per_cpu_s:
        gpu_fps = _combined(measured.gpu_decode_fps, measured.gpu_frames_per_s)
        forward = measured.forward_frames_per_cpu_s * FRONTEND_CPUS_PER_POD * FRONTEND_TARGET_UTILISATION
        result["gpu_decode"] = {
            "triton_pod_fps": gpu_fps,
            "gpus": math.ceil(total / (gpu_fps * TARGET_UTILISATION)),
            "frontend_pods": math.ceil(total / forward),
            "triton_in_gbit_per_s": result["ingest_gbit_per_s"],
        }
        result["notes"].append(
            f"GPU decode: {measured.gpu_decode_fps:.0f} frames/s decoded and letterboxed per GPU (nvJPEG), "
            f"{gpu_fps:.0f} with the models; front ends forwarding bytes at "
            f"{measured.forward_frames_per_cpu_s:.0f} frames per CPU-second ({measured.sources.get('forward', '')})"
        )
    return result


def traffic(minute: np.ndarray) -> np.ndarray:
    """Share of the peak frame rate over a day: night floor, morning and evening rush hours."""
    hours = minute / 60.0
    rush = np.exp(-((hours - 8.0) ** 2) / 1.0) + np.exp(-((hours - 17.5) ** 2) / 1.5)
    day = 0.55 * np.exp(-((hours - 13.0) ** 2) / 18.0)
    shape = 0.12 + day + 0.5 * rush
    return shape / (0.12 + 0.55 * np.exp(-((17.5 - 13.0) ** 2) / 18.0) + 0.5 * (1 + np.exp(-(9.5**2) / 1.5)))


@dataclass(frozen=True)
class TritonHpa:
    """The Triton HPA of k8s/overlays/gpu-prod/triton-hpa.yaml (tests/test_k8s.py keeps them equal)."""

    min_pods: int = 2
    max_pods: int = 16
    up_window_s: float = 60.0
    up_pods: int = 2
    up_period_s: float = 120.0
    down_window_s: float = 900.0
    down_pods: int = 1
    down_period_s: float = 300.0


def simulate(
    peak_fps: float,
    pod_fps: float,
    pod_start_s: float = 240.0,
    hpa: TritonHpa = TritonHpa(),
    failure_minute: int = 14 * 60,
    step_s: float = 15.0,
) -> dict:
    """A day through the HPA (target utilisation 70%, its windows and scale policies), pods ready
    `pod_start_s` after they are asked for, and one pod lost at `failure_minute` (its replacement
    starts then)."""
    steps = int(24 * 3600 / step_s)
    t = np.arange(steps) * step_s
    offered = peak_fps * traffic(t / 60.0)
    ready = hpa.min_pods
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
        desired = min(max(math.ceil(ready * utilisation / TARGET_UTILISATION), hpa.min_pods), hpa.max_pods)
        recommendations = [(at, n) for at, n in recommendations if at > now - hpa.down_window_s] + [(now, desired)]
        current = ready + len(starting)
        up = min(n for at, n in recommendations if at > now - hpa.up_window_s)
        down = max(n for at, n in recommendations)
        if up > current and now - last_up >= hpa.up_period_s:
            starting += [now + pod_start_s] * min(up - current, hpa.up_pods)
            last_up = now
        elif down < current and now - last_down >= hpa.down_period_s and ready > hpa.min_pods:
            ready -= min(hpa.down_pods, ready - hpa.min_pods)
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
