"""Failing fast and logging sparingly while the models are down: the circuit breaker and the
rate-limited log, on fake clocks."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from anpr.inference.backend import BackendUnavailable, NullBackend
from anpr.inference.circuit_breaker import CircuitBreaker
from anpr.observability.rate_limited import RateLimitedLog


class FlakyBackend(NullBackend):
    def __init__(self) -> None:
        super().__init__()
        self.failing = True
        self.calls = 0

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        if self.failing:
            raise BackendUnavailable("Triton plate_detector: Deadline Exceeded")
        return await super().detect(images)


def test_the_breaker_opens_after_repeated_failures_then_probes_and_closes() -> None:
    now = [0.0]
    flaky = FlakyBackend()
    breaker = CircuitBreaker(flaky, failure_threshold=3, open_s=2.0, clock=lambda: now[0])
    images = np.zeros((1, 8, 8), np.uint8)

    def detect() -> str:
        try:
            asyncio.run(breaker.detect(images))
        except BackendUnavailable as error:
            return str(error)
        return "ok"

    assert [detect() for _ in range(3)] == ["Triton plate_detector: Deadline Exceeded"] * 3
    assert breaker.is_open and flaky.calls == 3
    assert "circuit open" in detect() and flaky.calls == 3  # not called: failed at once
    now[0] = 2.5
    assert "Deadline" in detect() and flaky.calls == 4  # one probe, which fails: open again
    assert "circuit open" in detect() and flaky.calls == 4
    flaky.failing = False
    now[0] = 5.0
    assert detect() == "ok" and not breaker.is_open and breaker.opened == 1
    assert detect() == "ok" and flaky.calls == 6


def test_a_repeating_fault_logs_one_line_per_interval_with_its_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.rate"), logging.WARNING, "batches failed", 10.0, lambda: now[0])
    with caplog.at_level(logging.WARNING, "test.rate"):
        for k in range(759):  # 35 s of a Triton outage at ~22 failed batches a second
            now[0] = k * 35 / 759
            limited.event("batch of %d frames failed: %s", 16, "Triton down")
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4 and limited.logged == 4
    assert lines[0] == "batch of 16 frames failed: Triton down"
    assert "batches failed in the last 10 s" in lines[1]
    counts = [int(line.split("(")[1].split()[0]) for line in lines[1:]]
    assert 200 <= counts[0] <= 230 and sum(counts) <= 759
