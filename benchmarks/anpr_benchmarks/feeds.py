"""`anpr bench feeds`: many simulated cameras streaming to a real server over real gRPC.

The server runs as its own process (`anpr serve`); clients run in several processes so the client
is not the bottleneck. Each camera sends pre-encoded synthetic JPEGs at a fixed rate. Reported per
load: offered and processed frames/s, latency from send to result (p50/p95/p99/max), answers by
status, Jain's fairness index of per-camera processed share, batch fill, and the server's memory.
Loads are multiples of a measured capacity (calibrated first by overdriving the server).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anpr_benchmarks.common import RESULTS, pyplot, save_figure, write_result
from anpr_synth import generate_frame

LATENCY_BUDGET_MS = 100.0


def _client(
    port: int,
    cameras: list[str],
    streams: int,
    fps: float,
    seconds: float,
    jpegs: list[bytes],
    out: mp.Queue,
    batched: bool = False,
    budget_ms: float | None = None,
) -> None:
    """One client process: `streams` concurrent StreamFrames calls on one channel sharing `cameras`,
    each camera sending at `fps` (asyncio, so thousands of streams fit in one process). `batched`: an
    ingest gateway's StreamFrameBatches instead, one message a tick holding every camera's frame.
    `budget_ms`: the streams ask for this latency budget (`anpr-latency-budget-ms`)."""
    import asyncio

    import grpc

    from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc

    sent_at: dict[tuple[str, int], float] = {}
    rows: list[tuple[str, str, float]] = []
    start = time.monotonic() + 0.5
    offsets = {camera: k / (fps * len(cameras)) for k, camera in enumerate(cameras)}  # spread phases

    async def frames(group: list[str]):
        sequence = 0
        while sequence / fps < seconds:
            due = start + sequence / fps
            for camera in group:
                await asyncio.sleep(max(0.0, due + offsets[camera] - time.monotonic()))
                sent_at[(camera, sequence)] = time.monotonic()
                yield anpr_pb2.Frame(camera_id=camera, sequence=sequence, encoded=jpegs[sequence % len(jpegs)])
            sequence += 1

    async def batches(group: list[str]):
        sequence = 0
        while sequence / fps < seconds:
            await asyncio.sleep(max(0.0, start + sequence / fps - time.monotonic()))
            now = time.monotonic()
            for camera in group:
                sent_at[(camera, sequence)] = now
            jpeg = jpegs[sequence % len(jpegs)]
            yield anpr_pb2.FrameBatch(
                frames=[anpr_pb2.Frame(camera_id=camera, sequence=sequence, encoded=jpeg) for camera in group]
            )
            sequence += 1

    def record(result: anpr_pb2.FrameResult) -> None:
        latency = (time.monotonic() - sent_at[(result.camera_id, result.sequence)]) * 1000
        rows.append((result.camera_id, anpr_pb2.FrameStatus.Name(result.status), latency))

    metadata = (("anpr-latency-budget-ms", f"{budget_ms:g}"),) if budget_ms else None

    async def stream(stub: anpr_pb2_grpc.PlateRecognitionStub, group: list[str]) -> None:
        if batched:
            calls = stub.StreamFrameBatches(batches(group), timeout=seconds + 120, metadata=metadata)
            async for message in calls:
                for result in message.results:
                    record(result)
        else:
            async for result in stub.StreamFrames(frames(group), timeout=seconds + 120, metadata=metadata):
                record(result)

    async def main() -> None:
        options = [("grpc.max_send_message_length", 64 << 20)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            stub = anpr_pb2_grpc.PlateRecognitionStub(channel)
            groups = [cameras[k::streams] for k in range(min(streams, len(cameras)))]
            await asyncio.gather(*(stream(stub, group) for group in groups))

    asyncio.run(main())
    window = (min(sent_at.values(), default=0.0), time.monotonic())  # first send, last result
    out.put((len(sent_at), rows, window))


def _scrape(metrics_port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith('anpr_batch_size_sum{model="detector"}') or line.startswith(
            'anpr_batch_size_count{model="detector"}'
        ):
            name, value = line.rsplit(" ", 1)
            values[name.split("{")[0]] = float(value)
    return values


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def steady_growth(samples: list[float]) -> float | None:
    """Relative memory growth under a sustained load: mean of the last quarter of the samples over
    the mean of the second quarter (the first quarter is warm-up: first full batches, buffers)."""
    quarter = len(samples) // 4
    if quarter < 1:
        return None
    settled = float(np.mean(samples[quarter : 2 * quarter]))
    return float(np.mean(samples[-quarter:])) / settled - 1


def jain_index(values: list[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    x = np.asarray(values, dtype=np.float64)
    return float(x.sum() ** 2 / (len(x) * (x**2).sum())) if len(x) and (x**2).sum() > 0 else 1.0


def run_load(
    port: int,
    metrics_port: int,
    pid: int,
    cameras: int,
    fps: float,
    seconds: float,
    jpegs: list[bytes],
    workers: int,
    streams: int | None = None,
    batched: bool = False,
    budget_ms: float | None = None,
) -> dict:
    """One load: `cameras` feeds at `fps` from `workers` processes over `streams` gRPC streams in all
    (default: one stream per process); `batched`: many frames per message (StreamFrameBatches);
    `budget_ms`: the latency budget the streams ask for."""
    names = [f"cam-{k:04d}" for k in range(cameras)]
    before = _scrape(metrics_port)
    rss_before = _rss_mb(pid)
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    workers = min(workers, cameras)
    per_worker = max(1, (streams or workers) // workers)
    procs = [
        ctx.Process(
            target=_client, args=(port, names[w::workers], per_worker, fps, seconds, jpegs, queue, batched, budget_ms)
        )
        for w in range(workers)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    rss_samples: list[float] = []  # every 0.5 s while the clients run
    parts = []
    while len(parts) < len(procs):
        try:
            parts.append(queue.get(timeout=0.5))
        except Exception:
            rss_samples.append(_rss_mb(pid))
            if time.monotonic() - started > seconds + 180:
                raise TimeoutError("clients did not finish") from None
    for p in procs:
        p.join(10)
    elapsed = time.monotonic() - started
    after = _scrape(metrics_port)
    sent = sum(n for n, _, _ in parts)
    rows = [row for _, part, _ in parts for row in part]
    # CLOCK_MONOTONIC is system-wide on Linux, so the clients' windows can be combined.
    window_s = max(w[1] for _, _, w in parts) - min(w[0] for _, _, w in parts)
    statuses = Counter(status for _, status, _ in rows)
    processed = [latency for _, status, latency in rows if status == "PROCESSED"]
    per_camera = Counter(camera for camera, status, _ in rows if status == "PROCESSED")
    offered_per_camera = Counter(camera for camera, _, _ in rows)
    shares = [per_camera[c] / offered_per_camera[c] for c in names if offered_per_camera[c]]
    batches = after.get("anpr_batch_size_count", 0) - before.get("anpr_batch_size_count", 0)
    frames_in_batches = after.get("anpr_batch_size_sum", 0) - before.get("anpr_batch_size_sum", 0)
    lat = np.array(processed) if processed else np.zeros(1)
    return {
        "cameras": cameras,
        "streams": per_worker * workers,
        "fps_per_camera": fps,
        "seconds": seconds,
        "offered_fps": cameras * fps,
        "sent": sent,
        "answered": len(rows),
        # From the first frame sent to the last result received: a backlog finished after the
        # clients stop sending counts against the time it took.
        "processed_fps": len(processed) / max(window_s, 1e-9),
        "wall_seconds": elapsed,
        "statuses": dict(statuses),
        "drop_ratio": 1 - len(processed) / max(len(rows), 1),
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()),
        },
        "jain_fairness": jain_index(shares),
        "mean_batch_fill": frames_in_batches / batches if batches else 0.0,
        "server_rss_mb": {"before": rss_before, "peak": max([rss_before, *rss_samples]), "after": _rss_mb(pid)},
        "rss_growth_after_warmup": steady_growth(rss_samples),
    }


def calibrate(server: ServerProcess, cameras: int, seconds: float, jpegs: list[bytes], workers: int) -> dict:
    """Capacity: the processed rate when overdriven (200 frames/s offered, more than this machine does)."""
    return run_load(
        server.port,
        server.metrics_port,
        server.process.pid,
        cameras,
        max(200.0 / cameras, 1.0),
        seconds,
        jpegs,
        workers,
    )


class ServerProcess:
    """`anpr serve` in its own process, on free ports, with settings from the environment."""

    def __init__(self, backend: str, env: dict[str, str] | None = None, module: str | None = None) -> None:
        """`module`: run that module instead (one that logs the same start-up lines: the gRPC floor)."""
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"anpr-bench-serve-{os.getpid()}.log"
        environment = {**os.environ, "ANPR_PORT": "0", "ANPR_METRICS_PORT": "0", **(env or {})}
        command = ["-m", module] if module else ["-m", "anpr.cli", "serve", "--backend", backend]
        self.process = subprocess.Popen(
            [sys.executable, *command],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),
            env=environment,
        )
        deadline = time.monotonic() + 180
        self.port = self.metrics_port = 0
        while time.monotonic() < deadline and not self.port:
            found = re.search(r"listening on [\d.]+:(\d+) .*metrics on [\d.]*:(\d+)", self.log.read_text())
            if found:
                self.port, self.metrics_port = int(found.group(1)), int(found.group(2))
            time.sleep(0.2)
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
        while time.monotonic() < deadline and "SERVING" not in self.log.read_text().replace("NOT_SERVING", ""):
            time.sleep(0.2)
        if not self.port:
            raise TimeoutError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def plot(runs: list[dict], path: Path) -> None:
    plt = pyplot()
    offered = [r["offered_fps"] for r in runs]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].plot(offered, [r["processed_fps"] for r in runs], marker="o", label="processed")
    axes[0].plot(offered, offered, linestyle=":", color="grey", label="offered")
    axes[0].set_title("throughput")
    axes[0].set_ylabel("frames/s")
    axes[1].plot(offered, [r["latency_ms"]["p50"] for r in runs], marker="o", label="p50")
    axes[1].plot(offered, [r["latency_ms"]["p99"] for r in runs], marker="o", label="p99")
    axes[1].axhline(LATENCY_BUDGET_MS, color="red", linestyle="--", label="budget")
    axes[1].set_title("latency of processed frames (send to result)")
    axes[1].set_ylabel("ms")
    axes[2].plot(offered, [r["jain_fairness"] for r in runs], marker="o", label="Jain's index")
    axes[2].plot(offered, [1 - r["drop_ratio"] for r in runs], marker="o", label="processed share")
    axes[2].set_ylim(0, 1.05)
    axes[2].set_title("fairness across cameras")
    for ax in axes:
        ax.set_xlabel("offered frames/s")
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(figure, path)


def run(
    cameras: int,
    seconds: float,
    backend: str,
    loads: tuple[float, ...],
    workers: int,
    out: Path = RESULTS,
    name: str = "feeds",
    frames: int = 16,
    capacity_fps: float | None = None,
    streams: int | None = None,
) -> dict:
    """Calibrates capacity (unless given), then runs each load (a multiple of it); writes JSON and PNG."""
    jpegs = [generate_frame(5000, k, frame_size=(1280, 720)).jpeg for k in tqdm(range(frames), desc="frames")]
    server = ServerProcess(backend)
    try:
        calibration, capacity = None, capacity_fps
        if capacity is None:
            calibration = calibrate(server, cameras, min(seconds, 8), jpegs, workers)
            capacity = calibration["processed_fps"]
        runs = []
        for load in tqdm(loads, desc="loads"):
            fps = max(capacity * load / cameras, 0.05)
            result = run_load(
                server.port, server.metrics_port, server.process.pid, cameras, fps, seconds, jpegs, workers, streams
            )
            result["load_vs_capacity"] = load
            runs.append(result)
    finally:
        server.stop()
    within = [r for r in runs if r["drop_ratio"] < 0.01 and r["latency_ms"]["p99"] <= LATENCY_BUDGET_MS]
    payload = {
        "backend": backend,
        "calibration": calibration,
        "capacity_fps": capacity,
        "runs": runs,
        "capacity_within_budget_fps": max((r["processed_fps"] for r in within), default=None),
        "latency_budget_ms": LATENCY_BUDGET_MS,
    }
    write_result(name, payload, out)
    plot(runs, out / f"{name}.png")
    return payload


def format_table(payload: dict) -> str:
    lines = [
        f"capacity ({'given' if payload['calibration'] is None else 'overdriven'}) {payload['capacity_fps']:.1f} "
        f"frames/s; within budget "
        f"(drops < 1%, p99 <= {payload['latency_budget_ms']:.0f} ms): {payload['capacity_within_budget_fps']}",
        f"{'load':>5} {'offered':>8} {'processed':>9} {'drop%':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6} "
        f"{'jain':>5} {'batch':>5} {'rss MB':>12} {'growth':>6}",
    ]
    for r in payload["runs"]:
        lat, rss, growth = r["latency_ms"], r["server_rss_mb"], r.get("rss_growth_after_warmup")
        lines.append(
            f"{r['load_vs_capacity']:>5.2f} {r['offered_fps']:>8.1f} {r['processed_fps']:>9.1f} "
            f"{100 * r['drop_ratio']:>6.1f} {lat['p50']:>6.0f} {lat['p95']:>6.0f} {lat['p99']:>6.0f} "
            f"{lat['max']:>6.0f} {r['jain_fairness']:>5.3f} {r['mean_batch_fill']:>5.1f} "
            f"{rss['before']:>5.0f}->{rss['peak']:<5.0f} "
            + (f"{100 * growth:>5.1f}%" if growth is not None else "   n/a")
        )
    return "\n".join(lines)
