"""`anpr bench deadlines`: latency budgets under overload, measured side by side in one run.

One server (no budget of its own) and its capacity measured first by overdriving it; then the same
overload (`load` x capacity) once without a budget and once per budget, the streams asking for the
budget themselves (`anpr-latency-budget-ms`), in alternating order over `repeats` rounds so drift of
this shared machine lands on every budget alike. Each run reports p99 of processed frames against its
budget, throughput against the capacity, Jain's fairness, and the batch times the server had learnt.
With `--gpu` the same decisions are modelled instead (`deadline_model`: the server's scheduler on a
simulated clock) with a GPU's measured batch times.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tqdm import tqdm

from anpr.contract import DETECTOR, RECOGNISER
from anpr.scheduling import SchedulerPolicy
from anpr_benchmarks.common import RESULTS, pyplot, save_figure, write_result
from anpr_benchmarks.deadline_model import SimulatedFeeds, batch_time_table, capacity_fps, simulate
from anpr_benchmarks.feeds import ServerProcess, calibrate, run_load
from anpr_synth import generate_frame

P99_TARGET, THROUGHPUT_TARGET, FAIRNESS_TARGET = 1.0, 0.9, 0.99  # x budget, x capacity, Jain


def meets(run: dict, capacity: float) -> dict[str, bool]:
    """The issue's three conditions for one run with a budget."""
    return {
        "p99_within_budget": bool(run["latency_ms"]["p99"] <= P99_TARGET * run["budget_ms"]),
        "throughput_0_9_capacity": bool(run["processed_fps"] >= THROUGHPUT_TARGET * capacity),
        "jain_0_99": bool(run["jain_fairness"] >= FAIRNESS_TARGET),
    }


def learned_batch_seconds(metrics_port: int) -> dict[str, float]:
    """The server's learned service times (`anpr_scheduler_batch_service_seconds`: one, full)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    return {
        sample.labels["batch"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "anpr_scheduler_batch_service_seconds"
        for sample in family.samples
    }


def run(
    cameras: int,
    seconds: float,
    backend: str,
    load: float,
    budgets: tuple[float, ...],
    repeats: int,
    workers: int,
    out: Path = RESULTS,
    name: str = "deadlines",
) -> dict:
    jpegs = [generate_frame(5000, k, frame_size=(1280, 720)).jpeg for k in range(16)]
    policy = SchedulerPolicy()  # the server's defaults: what `anpr serve` runs with here
    server = ServerProcess(backend)
    runs: list[dict] = []
    try:
        calibration = calibrate(server, cameras, min(seconds, 10), jpegs, workers)
        capacity = calibration["processed_fps"]
        order: list[float | None] = [None, *budgets]
        schedule = [b for r in range(repeats) for b in (order if r % 2 == 0 else order[::-1])]
        fps = capacity * load / cameras
        for budget in tqdm(schedule, desc="budgets"):
            result = run_load(
                server.port,
                server.metrics_port,
                server.process.pid,
                cameras,
                fps,
                seconds,
                jpegs,
                workers,
                budget_ms=budget,
            )
            result["budget_ms"] = budget
            result["learned_batch_seconds"] = learned_batch_seconds(server.metrics_port)
            runs.append(result)
    finally:
        server.stop()
    for result in runs:
        if result["budget_ms"] is not None:
            result["meets"] = meets(result, capacity)
    payload = {
        "backend": backend,
        "load_vs_capacity": load,
        "capacity_fps": capacity,
        "calibration": calibration,
        "max_batch": policy.max_batch,
        "targets": {"p99_vs_budget": P99_TARGET, "throughput_vs_capacity": THROUGHPUT_TARGET, "jain": FAIRNESS_TARGET},
        "runs": runs,
    }
    write_result(name, payload, out)
    plot(payload, out / f"{name}.png")
    return payload


def model_gpu(
    models_json: dict,
    detector_json: dict | None,
    plates_per_frame: float,
    budgets: tuple[float, ...],
    load: float,
    max_batch: int,
    overhead_ms: float,
    cameras: int = 1150,
    seconds: float = 10.0,
    out: Path = RESULTS,
    name: str = "deadlines_gpu_model",
) -> dict:
    """The same decisions with a GPU's batch times (`benchmarks/gpu/run_gpu_bench.py` results): detector
    in its plan precision (TF32, from `detector_json` when given) + recogniser (FP16) for
    `plates_per_frame` plates a frame, plus `overhead_ms` a batch (Triton and the two calls)."""

    def best_latency(rows: list[dict], model: str, precision: str) -> dict[int, float]:
        """Fastest seconds per batch size, in the plan's precision (rows of older files name none)."""
        latency: dict[int, float] = {}
        for row in rows:
            if row["model"] != model or row.get("precision", precision) != precision:
                continue
            seconds_ = row["batch_size"] / row["items_per_second"]
            latency[row["batch_size"]] = min(latency.get(row["batch_size"], seconds_), seconds_)
        return latency

    detector = best_latency((detector_json or models_json)["results"], "detector", DETECTOR.plan_precision)
    recogniser = best_latency(models_json["results"], "recogniser", RECOGNISER.plan_precision)
    det = batch_time_table(list(detector), list(detector.values()))
    rec = batch_time_table(list(recogniser), list(recogniser.values()))

    def batch_seconds(size: int) -> float:
        return det(size) + rec(max(1, round(size * plates_per_frame))) + overhead_ms / 1000.0

    policy = SchedulerPolicy(max_batch=max_batch)
    capacity = capacity_fps(batch_seconds, max_batch)
    feeds = SimulatedFeeds(cameras, capacity * load / cameras, seconds, overhead_s=0.0)
    runs = []
    for budget in tqdm([None, *budgets], desc="modelled budgets"):
        result = simulate(feeds, policy, batch_seconds, budget_ms=budget)
        result["budget_ms"] = budget
        if budget is not None:
            result["meets"] = meets(result, capacity)
        runs.append(result)
    payload = {
        "gpu": models_json.get("gpu"),
        "sources": {"models": models_json.get("date"), "detector": (detector_json or {}).get("date")},
        "plates_per_frame": plates_per_frame,
        "overhead_ms_per_batch": overhead_ms,
        "max_batch": max_batch,
        "batch_ms": {size: 1000 * batch_seconds(size) for size in (1, 8, 32, max_batch)},
        "capacity_fps": capacity,
        "load_vs_capacity": load,
        "cameras": cameras,
        "runs": runs,
    }
    write_result(name, payload, out)
    plot(payload, out / f"{name}.png")
    return payload


def plot(payload: dict, path: Path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    capacity = payload["capacity_fps"]
    budgeted = [r for r in payload["runs"] if r["budget_ms"] is not None]
    unbudgeted = [r for r in payload["runs"] if r["budget_ms"] is None]
    budgets = [r["budget_ms"] for r in budgeted]
    panels = (
        (axes[0], lambda r: r["latency_ms"]["p99"], "p99 of processed frames (ms)"),
        (axes[1], lambda r: r["processed_fps"] / capacity, "processed / capacity"),
        (axes[2], lambda r: r["jain_fairness"], "Jain's fairness index"),
    )
    for ax, value, title in panels:
        ax.plot(budgets, [value(r) for r in budgeted], "o", label="measured" if "calibration" in payload else "model")
        for k, r in enumerate(unbudgeted):
            ax.axhline(value(r), color="black", linestyle=":", label="no budget" if k == 0 else None)
        ax.set_xscale("log")
        ax.set_xlabel("latency budget (ms)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].plot(budgets, budgets, "--", color="red", label="budget")
    axes[1].axhline(THROUGHPUT_TARGET, color="red", linestyle="--", label="0.9")
    axes[2].axhline(FAIRNESS_TARGET, color="red", linestyle="--", label="0.99")
    for ax in axes:
        ax.legend(fontsize=8)
    where = payload.get("gpu") or payload.get("backend")
    figure.suptitle(f"{payload['load_vs_capacity']:g}x capacity ({capacity:.0f} frames/s), {where}")
    save_figure(figure, path)


def format_table(payload: dict) -> str:
    lines = [
        f"capacity {payload['capacity_fps']:.1f} frames/s; load {payload['load_vs_capacity']:g}x",
        f"{'budget':>7} {'processed':>9} {'/cap':>5} {'p50':>6} {'p99':>6} {'jain':>6} {'batch':>5}  meets",
    ]
    for r in payload["runs"]:
        budget = "none" if r["budget_ms"] is None else f"{r['budget_ms']:.0f}"
        met = (
            ""
            if "meets" not in r
            else (
                "all" if all(r["meets"].values()) else ",".join(k for k, v in r["meets"].items() if not v) + " not met"
            )
        )
        line = (
            f"{budget:>7} {r['processed_fps']:>9.1f} {r['processed_fps'] / payload['capacity_fps']:>5.2f} "
            f"{r['latency_ms']['p50']:>6.0f} {r['latency_ms']['p99']:>6.0f} {r['jain_fairness']:>6.3f} "
            f"{r['mean_batch_fill']:>5.1f}  {met}"
        )
        lines.append(line)
    return "\n".join(lines)
