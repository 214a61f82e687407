"""The scheduler's deadline decisions in a closed loop (simulated clock, modelled batch times): the
budget holds at twice capacity with throughput and fairness kept; without one, latency is the queues'."""

from __future__ import annotations

import pytest

from anpr.scheduling import SchedulerPolicy
from anpr_benchmarks.deadline_model import SimulatedFeeds, batch_time_table, capacity_fps, simulate


def batch_seconds(size: int) -> float:
    return 0.010 + 0.002 * size  # a batch of 16: 42 ms, 381 frames/s


POLICY = SchedulerPolicy(max_batch=16, camera_queue_depth=8, max_frame_age_ms=5000)


def overload(budget_ms: float | None) -> dict:
    capacity = capacity_fps(batch_seconds, 16)
    return simulate(SimulatedFeeds(48, 2 * capacity / 48, 6.0, seed=3), POLICY, batch_seconds, budget_ms=budget_ms)


def test_without_a_budget_frames_wait_as_long_as_the_queues_allow() -> None:
    result = overload(None)
    assert result["latency_ms"]["p99"] > 600  # 8 frames a camera deep at 2x: about a second
    assert result["drops"].keys() == {"SUPERSEDED"}


@pytest.mark.parametrize("budget_ms", [150, 300, 600])
def test_at_twice_capacity_a_budget_holds_with_throughput_and_fairness_kept(budget_ms: float) -> None:
    capacity = capacity_fps(batch_seconds, 16)
    result = overload(budget_ms)
    assert result["latency_ms"]["p99"] <= budget_ms
    assert result["processed_fps"] >= 0.9 * capacity
    assert result["jain_fairness"] >= 0.99
    assert result["drops"].get("DEADLINE", 0) > 0  # the budget, not the queue bound, did it


def test_batch_time_table_interpolates_and_extends_the_last_slope() -> None:
    table = batch_time_table([32, 1, 8], [0.004, 0.001, 0.002])
    assert table(1) == pytest.approx(0.001) and table(20) == pytest.approx(0.003)
    assert table(64) == pytest.approx(0.004 + (0.002 / 24) * 32)
