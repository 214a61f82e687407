"""How long a batch takes, learned from the batches that ran: a high percentile of the recent service
times (batch taken -> every frame answered) per batch size, for the scheduler's deadline decisions."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

import numpy as np


class ServiceTimes:
    """Per batch size, the `percentile` of the last `window` service times (seconds). Sizes never seen
    are estimated from the nearest sizes seen, scaled linearly (a batch costs a fixed part and a part per
    frame); with nothing seen at all there is no estimate (None), and nothing is dropped on a guess."""

    def __init__(self, percentile: float = 99.0, window: int = 64) -> None:
        self.percentile = percentile
        self.window = window
        self._seen: dict[int, deque[float]] = {}
        self._estimates: dict[int, float] = {}
        self.sizes: list[int] = []  # the batch sizes seen, in order

    def observe(self, batch_size: int, seconds: float) -> None:
        if batch_size not in self._seen:
            self._seen[batch_size] = deque(maxlen=self.window)
            insort(self.sizes, batch_size)
        times = self._seen[batch_size]
        times.append(seconds)
        self._estimates[batch_size] = float(np.percentile(times, self.percentile))

    def estimate(self, batch_size: int) -> float | None:
        """Seconds a batch of `batch_size` frames is expected to take, or None before any batch ran."""
        if not self._estimates:
            return None
        if batch_size in self._estimates:
            return self._estimates[batch_size]
        at = bisect_left(self.sizes, batch_size)  # sizes[at - 1] < batch_size < sizes[at]
        if 0 < at < len(self.sizes):  # between two sizes seen: interpolate
            low, high = self.sizes[at - 1], self.sizes[at]
            share = (batch_size - low) / (high - low)
            return self._estimates[low] + share * (self._estimates[high] - self._estimates[low])
        nearest = self.sizes[at - 1] if at else self.sizes[0]
        # Outside what was seen: smaller batches cost at least their share, larger ones at most theirs.
        return self._estimates[nearest] * (batch_size / nearest if batch_size > nearest else 1.0)

    def largest_within(self, seconds: float, limit: int) -> int:
        """The largest batch size up to `limit` expected to finish within `seconds` (at least 1)."""
        if not self._estimates:
            return limit
        for size in range(limit, 1, -1):  # from the largest: with slack, the first one asked fits
            estimate = self.estimate(size)
            if estimate is not None and estimate <= seconds:
                return size
        return 1
