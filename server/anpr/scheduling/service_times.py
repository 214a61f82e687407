"""How long a batch takes, learned from the batches that ran: a high percentile of the recent service
times (batch taken -> every frame answered) per batch size, for the scheduler's deadline decisions.

Times older than `max_age_s` are forgotten. Without that, a budget the learned times call hopeless
would starve itself: every frame dropped, no batch run, nothing learnt that could say otherwise (a
time measured behind a long batch in flight stays the estimate for ever). Once forgotten, the next
batch runs unjudged and measures what a batch takes now.
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable

import numpy as np


class ServiceTimes:
    """Per batch size, the `percentile` of the last `window` service times (seconds) of the last
    `max_age_s`. Sizes never seen are estimated from the nearest sizes seen, scaled linearly (a batch
    costs a fixed part and a part per frame); with nothing seen at all there is no estimate (None), and
    nothing is dropped on a guess."""

    def __init__(
        self,
        percentile: float = 99.0,
        window: int = 64,
        max_age_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.percentile = percentile
        self.window = window
        self.max_age_s = max_age_s
        self._clock = clock
        self._seen: dict[int, deque[tuple[float, float]]] = {}  # size -> (observed at, seconds)
        self._estimates: dict[int, float] = {}
        self._stale: set[int] = set()  # sizes observed since their estimate was computed
        self.sizes: list[int] = []  # the batch sizes seen, in order

    def observe(self, batch_size: int, seconds: float) -> None:
        if batch_size not in self._seen:
            self._seen[batch_size] = deque(maxlen=self.window)
            insort(self.sizes, batch_size)
        self._seen[batch_size].append((self._clock(), seconds))
        self._stale.add(batch_size)  # the percentile waits until a deadline asks: O(1) a batch without one

    def _refresh(self) -> None:
        for size in self._stale:
            if size in self._seen:
                self._estimates[size] = float(np.percentile([s for _, s in self._seen[size]], self.percentile))
        self._stale.clear()

    def expire(self) -> None:
        """Forgets the times older than `max_age_s` (the scheduler calls this once a batch)."""
        oldest = self._clock() - self.max_age_s
        for size in list(self.sizes):
            times = self._seen[size]
            if times[0][0] >= oldest:
                continue
            while times and times[0][0] < oldest:
                times.popleft()
            if times:
                self._stale.add(size)
            else:
                del self._seen[size]
                self._estimates.pop(size, None)
                self._stale.discard(size)
                self.sizes.remove(size)

    def estimate(self, batch_size: int) -> float | None:
        """Seconds a batch of `batch_size` frames is expected to take, or None with nothing learnt."""
        if self._stale:
            self._refresh()
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
        if self._stale:
            self._refresh()
        if not self._estimates:
            return limit
        for size in range(limit, 1, -1):  # from the largest: with slack, the first one asked fits
            estimate = self.estimate(size)
            if estimate is not None and estimate <= seconds:
                return size
        return 1
