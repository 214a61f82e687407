"""Logging that cannot flood: a fault that repeats per frame or per batch (Triton down, a client
sending garbage) logs one line per interval, with how many such events it stands for."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """At most one record per `interval_s`; each says how many events happened since the last one."""

    def __init__(
        self,
        logger: logging.Logger,
        level: int,
        what: str,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._level = level
        self._what = what
        self._interval_s = interval_s
        self._clock = clock
        self._last: float | None = None
        self._count = 0
        self.logged = 0

    def event(self, message: str, *args: object) -> None:
        self._count += 1
        now = self._clock()
        if self._last is not None and now - self._last < self._interval_s:
            return
        since = "" if self._last is None else f" ({self._count} {self._what} in the last {now - self._last:.0f} s)"
        self._logger.log(self._level, message + since, *args)
        self._last = now
        self._count = 0
        self.logged += 1
