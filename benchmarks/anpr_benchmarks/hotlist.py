"""`anpr bench hotlist`: how fast reads are matched against a big hotlist, and how soon a hit reaches
a subscriber under the feed simulator's load.

1. Matching, in this process: an index of `entries` random plates (UK current format), then reads of
   which 1% are listed plates, 1% listed plates with a look-alike swapped or a character dropped and the
   rest random: reads matched per CPU-second (process time, so a busy machine does not distort it).
2. Hit latency, through a real `anpr serve`: the synthetic feed of `anpr bench feeds` at 1x its capacity
   with every plate of its frames on the hotlist, so reads become hits; the server's own histogram of
   frame received -> hit published (p50/p99, interpolated like PromQL's histogram_quantile), beside the
   frames' own latency from send to result.
"""

from __future__ import annotations

import os
import random
import string
import tempfile
import time
import urllib.request
from pathlib import Path

from tqdm import tqdm

from anpr.vehicles.hotlist import Hotlist
from anpr.vehicles.records import HotlistEntry
from anpr_benchmarks.common import RESULTS, pyplot, save_figure, write_result
from anpr_benchmarks.feeds import ServerProcess, calibrate, run_load
from anpr_synth import generate_frame

MATCH_TARGET_PER_CPU_S = 100_000


def uk_plates(count: int, rng: random.Random) -> list[str]:
    letters, digits = string.ascii_uppercase, string.digits
    return [
        "".join(rng.choice(letters) for _ in range(2))
        + "".join(rng.choice(digits) for _ in range(2))
        + "".join(rng.choice(letters) for _ in range(3))
        for _ in range(count)
    ]


def matching(entries: int = 100_000, reads: int = 200_000, seed: int = 0) -> dict:
    rng = random.Random(seed)
    plates = uk_plates(entries, rng)
    started = time.process_time()
    hotlist = Hotlist([HotlistEntry(p, "stolen", 1) for p in plates])
    build_s = time.process_time() - started
    listed = [rng.choice(plates) for _ in range(reads // 100)]
    swap = str.maketrans("0O1I8B5S", "O0I1B8S5")
    near = [
        p.translate(swap) if rng.random() < 0.5 else p[:-1] for p in (rng.choice(plates) for _ in range(reads // 100))
    ]
    stream = listed + near + uk_plates(reads - len(listed) - len(near), rng)
    rng.shuffle(stream)
    started = time.process_time()
    matched = sum(bool(hotlist.match(text)) for text in stream)
    match_s = time.process_time() - started
    return {
        "entries": entries,
        "reads": reads,
        "index_build_cpu_s": build_s,
        "reads_matched_per_cpu_s": reads / match_s,
        "cpu_us_per_read": match_s / reads * 1e6,
        "reads_with_a_match": matched,
        "target_per_cpu_s": MATCH_TARGET_PER_CPU_S,
    }


def _histogram(metrics_port: int, name: str) -> dict[float, float]:
    """Cumulative bucket counts of one histogram from the server's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float | None:
    """PromQL's histogram_quantile over the increase between two scrapes (linear within a bucket)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, cumulative
    return lower


def hit_latency(backend: str, cameras: int, seconds: float, workers: int, capacity_fps: float | None) -> dict:
    frames = [generate_frame(5000, k, frame_size=(1280, 720)) for k in tqdm(range(16), desc="frames")]
    with tempfile.TemporaryDirectory() as scratch:
        hotlist = Path(scratch) / "hotlist.csv"
        listed = sorted({plate.text for frame in frames for plate in frame.plates})
        filler = uk_plates(100_000 - len(listed), random.Random(1))
        hotlist.write_text("plate,category,priority,note\n" + "".join(f"{p},stolen,1,\n" for p in listed + filler))
        server = ServerProcess(backend, env={"ANPR_HOTLIST__FILE": str(hotlist)})
        try:
            jpegs = [frame.jpeg for frame in frames]
            capacity = capacity_fps or calibrate(server, cameras, 8, jpegs, workers)["processed_fps"]
            before = _histogram(server.metrics_port, "anpr_hit_latency_seconds")
            load = run_load(
                server.port,
                server.metrics_port,
                server.process.pid,
                cameras,
                capacity / cameras,
                seconds,
                jpegs,
                workers,
            )
            after = _histogram(server.metrics_port, "anpr_hit_latency_seconds")
        finally:
            server.stop()
    quantile = {f"p{int(q * 100)}": histogram_quantile(q, before, after) for q in (0.5, 0.99)}
    return {
        "backend": backend,
        "hotlist_entries": 100_000,
        "plates_listed_from_the_feed": len(listed),
        "capacity_fps": capacity,
        "load": {k: load[k] for k in ("offered_fps", "processed_fps", "statuses", "latency_ms", "jain_fairness")},
        "hits": (after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)),
        "hit_latency_ms": {k: (v * 1000 if v is not None else None) for k, v in quantile.items()},
    }


def plot(payload: dict, path: Path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    m = payload["matching"]
    axes[0].bar(["measured", "target"], [m["reads_matched_per_cpu_s"], m["target_per_cpu_s"]], color=["C0", "grey"])
    axes[0].set_title(f"reads matched per CPU-second ({m['entries']:,} entries)")
    latency = payload.get("latency")
    if latency:
        frames = latency["load"]["latency_ms"]
        labels = ["hit p50", "hit p99", "frame p50", "frame p99"]
        values = [
            latency["hit_latency_ms"]["p50"] or 0,
            latency["hit_latency_ms"]["p99"] or 0,
            frames["p50"],
            frames["p99"],
        ]
        axes[1].bar(labels, values, color=["C1", "C1", "C2", "C2"])
        axes[1].set_ylabel("ms")
        axes[1].set_title(f"at 1x load ({latency['load']['processed_fps']:.0f} frames/s, {latency['backend']})")
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
    save_figure(figure, path)


def run(
    backend: str,
    cameras: int,
    seconds: float,
    workers: int,
    capacity_fps: float | None,
    out: Path = RESULTS,
    name: str = "hotlist",
    with_latency: bool = True,
) -> dict:
    payload: dict = {"matching": matching()}
    if with_latency:
        payload["latency"] = hit_latency(backend, cameras, seconds, workers, capacity_fps)
    payload["cpu_count"] = os.cpu_count()
    write_result(name, payload, out)
    plot(payload, out / f"{name}.png")
    return payload


def format_table(payload: dict) -> str:
    m = payload["matching"]
    lines = [
        f"hotlist of {m['entries']:,}: indexed in {m['index_build_cpu_s']:.1f} CPU-s; "
        f"{m['reads_matched_per_cpu_s']:,.0f} reads matched per CPU-second "
        f"({m['cpu_us_per_read']:.1f} us a read; target {m['target_per_cpu_s']:,})"
    ]
    latency = payload.get("latency")
    if latency:
        hit, frame = latency["hit_latency_ms"], latency["load"]["latency_ms"]
        lines.append(
            f"at 1x load ({latency['load']['processed_fps']:.1f} frames/s, {latency['backend']}): "
            f"{latency['hits']:.0f} hits, frame received -> hit sent p50 {hit['p50']:.0f} ms p99 {hit['p99']:.0f} ms; "
            f"frames sent -> result p50 {frame['p50']:.0f} ms p99 {frame['p99']:.0f} ms"
        )
    return "\n".join(lines)
