"""The scheduler's deadline decisions on a simulated clock: the server's own `FrameScheduler` fed by
simulated cameras and served by a model of the batch times, so a budget can be judged for hardware this
machine does not have (a GPU's measured batch times) and checked against the real server on the CPU.

The model: `cameras` feeds at `fps` each (phases spread), a dispatcher that takes a batch whenever one
of its `in_flight` slots is free (a partial batch after waiting `max_wait_ms`, as the dispatcher does),
and one device that runs batches one after another, each taking `batch_seconds(size)` times a
log-normal jitter. The scheduler learns what the dispatcher would measure: taken -> answered, waiting
behind the other batch in flight included. Latency is arrival -> answer, plus `overhead_s` (network
and the front end's own work, which this model does not see).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from anpr.scheduling import DropReason, FrameScheduler, QueuedFrame, SchedulerPolicy
from anpr_benchmarks.feeds import jain_index


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class SimulatedFeeds:
    cameras: int
    fps: float  # per camera
    seconds: float
    overhead_s: float = 0.0
    jitter: float = 0.1  # sigma of the log-normal factor on each batch's time
    seed: int = 0


def batch_time_table(sizes: list[int], seconds: list[float]) -> Callable[[int], float]:
    """Seconds per batch size, linear between the measured sizes and beyond the largest."""
    order = np.argsort(sizes)
    xs, ys = np.asarray(sizes, float)[order], np.asarray(seconds, float)[order]

    def batch_seconds(size: int) -> float:
        if size > xs[-1] and len(xs) > 1:
            slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
            return float(ys[-1] + slope * (size - xs[-1]))
        return float(np.interp(size, xs, ys))

    return batch_seconds


def simulate(
    feeds: SimulatedFeeds,
    policy: SchedulerPolicy,
    batch_seconds: Callable[[int], float],
    in_flight: int = 2,
    budget_ms: float | None = None,
) -> dict:
    """Runs the feeds through the scheduler; `budget_ms`: each frame's own budget (as a client's)."""
    rng = np.random.default_rng(feeds.seed)
    clock = SimulatedClock()
    dropped: Counter = Counter()
    processed_per_camera: Counter = Counter()
    offered_per_camera: Counter = Counter()
    latencies: list[float] = []
    batch_sizes: list[int] = []
    last_answer = 0.0
    scheduler = FrameScheduler(
        policy.model_copy(update={"max_wait_ms": 0.0}),
        lambda frame, reason: dropped.update([reason.name]),
        clock=clock,
    )
    period = 1.0 / feeds.fps
    phases = rng.uniform(0, period, feeds.cameras)
    arrivals = sorted(
        (phase + k * period, camera)
        for camera, phase in enumerate(phases)
        for k in range(int((feeds.seconds - phase) / period) + 1)
    )
    completions: list[tuple[float, int, list[QueuedFrame], float]] = []  # (done at, tie, batch, taken at)
    device_free_at, tie, next_arrival, busy = 0.0, 0, 0, 0
    max_wait_s = policy.max_wait_ms / 1000.0
    oldest_waiting: float | None = None
    while next_arrival < len(arrivals) or completions or scheduler.queued:
        # Take batches while a slot is free and one is due (full, or its first frame waited max_wait).
        while busy < in_flight and scheduler.queued:
            full = scheduler.queued >= policy.max_batch
            if not full and oldest_waiting is not None and clock.now < oldest_waiting + max_wait_s:
                if next_arrival >= len(arrivals) and not completions:
                    clock.now = oldest_waiting + max_wait_s  # nothing else will happen first
                    continue
                break
            batch = scheduler.take_batch()
            oldest_waiting = clock.now if scheduler.queued else None
            if not batch:
                continue
            service = batch_seconds(len(batch)) * float(np.exp(rng.normal(0, feeds.jitter)))
            start = max(clock.now, device_free_at)
            device_free_at = start + service
            heapq.heappush(completions, (device_free_at, tie, batch, clock.now))
            tie += 1
            busy += 1
            batch_sizes.append(len(batch))
        wake = [arrivals[next_arrival][0]] if next_arrival < len(arrivals) else []
        if completions:
            wake.append(completions[0][0])
        if oldest_waiting is not None and busy < in_flight:
            wake.append(oldest_waiting + max_wait_s)
        if not wake:
            break
        clock.now = max(clock.now, min(wake))
        while completions and completions[0][0] <= clock.now:
            done_at, _, batch, taken_at = heapq.heappop(completions)
            scheduler.observe_batch(len(batch), done_at - taken_at)
            busy -= 1
            last_answer = done_at
            for frame in batch:
                latencies.append(done_at - frame.payload + feeds.overhead_s)
                processed_per_camera[frame.camera_id] += 1
        while next_arrival < len(arrivals) and arrivals[next_arrival][0] <= clock.now:
            at, camera = arrivals[next_arrival]
            next_arrival += 1
            offered_per_camera[camera] += 1
            if oldest_waiting is None:
                oldest_waiting = at
            scheduler.submit(QueuedFrame(camera, at, budget_ms=budget_ms))
    shares = [processed_per_camera[c] / n for c, n in offered_per_camera.items()]
    lat_ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "offered_fps": feeds.cameras * feeds.fps,
        # First arrival to last answer: a backlog worked off after the feeds stop counts against it.
        "processed_fps": len(latencies) / max(last_answer - arrivals[0][0], 1e-9) if arrivals else 0.0,
        "drops": {reason.name: dropped[reason.name] for reason in DropReason if dropped[reason.name]},
        "latency_ms": {q: float(np.percentile(lat_ms, float(q[1:]))) for q in ("p50", "p95", "p99")},
        "jain_fairness": jain_index(shares),
        "mean_batch_fill": float(np.mean(batch_sizes)) if batch_sizes else 0.0,
    }


def capacity_fps(batch_seconds: Callable[[int], float], max_batch: int) -> float:
    """Frames per second of the device with every batch full."""
    return max_batch / batch_seconds(max_batch)
