"""Per-camera bounded queues, round-robin batches, and explicit drops.

Policies (docs/DESIGN.md, "Live video semantics"):
- each camera has a queue of at most `camera_queue_depth` frames; a new frame arriving at a full
  queue evicts that camera's oldest frame, answered DROPPED_STALE (freshest frames win);
- a frame that has waited longer than `max_frame_age_ms` when its turn comes is DROPPED_STALE;
- at most `max_queued_frames` frames, and `max_queued_bytes` of their encoded images, wait in total;
  beyond either the oldest frame of the camera with the longest queue is answered DROPPED_OVERLOAD
  (the busiest camera pays first);
- batches take one frame per camera per round, continuing round-robin from where the last batch
  stopped, up to `max_batch` frames, waiting at most `max_wait_ms` for a batch to fill;
- with a `latency_budget_ms` (or a frame's own, tighter budget), every frame must be answered by
  receipt + budget: from the service times of the batches that ran (`ServiceTimes`), a frame that
  could not make its deadline even in a batch of one is DROPPED_STALE (`deadline`) when a batch is
  formed, before anything is spent on it; with more frames waiting than a batch holds, so is a frame
  that could not make it in a full batch (a full batch keeps the throughput); and a batch is only as
  large as the tightest deadline left allows. Deadlines are kept in a heap, so each batch costs
  O(log n) per frame dropped or checked, not a scan of every camera.

The scheduler never answers frames itself: it hands every dropped frame to `on_drop` exactly once,
and every scheduled frame to the caller of `next_batch`.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from anpr.domain import Reason
from anpr.scheduling.service_times import ServiceTimes


class SchedulerPolicy(BaseModel):
    """Bounds and timings of the scheduler; part of the server's settings."""

    model_config = {"extra": "forbid", "frozen": True}

    max_batch: int = Field(16, ge=1, le=256, description="frames per detector batch")
    max_wait_ms: float = Field(5.0, ge=0, description="how long a partial batch waits for more frames")
    camera_queue_depth: int = Field(2, ge=1, description="frames waiting per camera before the oldest is dropped")
    max_queued_frames: int = Field(2048, ge=1, description="frames waiting across all cameras")
    max_queued_bytes: int = Field(256 * 1024 * 1024, ge=1, description="image bytes waiting across all cameras")
    max_frame_age_ms: float = Field(1000.0, gt=0, description="older frames are dropped when their turn comes")
    latency_budget_ms: float | None = Field(
        None,
        gt=0,
        description="receipt to result: frames that cannot make it (by the batches' learned service times) are "
        "dropped before decoding, and batches shrink as deadlines near; unset: off",
    )
    delivery_margin: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="share of a latency budget kept for the answer's way back (result queue, gRPC, the client): "
        "batches aim to be answered by receipt + budget x (1 - this)",
    )


class DropReason(enum.Enum):
    """Why the scheduler let a frame go (the value is the sentence sent back); the dispatcher maps these
    to FrameStatus values."""

    SUPERSEDED = "stale: a newer frame of the same camera arrived while this one waited"
    TOO_OLD = "stale: waited longer than max_frame_age_ms"
    DEADLINE = "stale: could not be answered within latency_budget_ms"
    OVERLOAD = "overload: too many frames waiting; the busiest camera's oldest frame was dropped"
    SHUTDOWN = "overload: the server is shutting down"
    CANCELLED = "cancelled: the client went away"

    @property
    def code(self) -> Reason:
        return Reason[self.name]


@dataclass(eq=False)
class QueuedFrame:
    """A frame waiting for the models. `payload` is whatever the caller needs to answer it."""

    camera_id: str
    payload: Any
    size: int = 0  # bytes it holds (its encoded image), counted against max_queued_bytes
    budget_ms: float | None = None  # the sender's own latency budget; only a tighter one than the policy's counts
    enqueued_at: float = field(default_factory=time.monotonic)
    deadline: float | None = None  # set on submit: when its answer is due (scheduler clock), if it has a budget
    waiting: bool = False  # in a camera queue now (heap entries of frames that left are skipped)


class FrameScheduler:
    """Single-threaded (asyncio) scheduler; all methods must be called on the event loop."""

    def __init__(
        self,
        policy: SchedulerPolicy,
        on_drop: Callable[[QueuedFrame, DropReason], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._on_drop = on_drop
        self._clock = clock
        self._queues: OrderedDict[str, deque[QueuedFrame]] = OrderedDict()  # order = round-robin order
        self._queued = 0
        self._queued_bytes = 0
        self._arrived = asyncio.Event()
        self._closed = False
        # Fed by the dispatcher (batch taken -> batch answered), on the scheduler's clock.
        self.service_times = ServiceTimes(clock=clock)
        # (deadline, tie-break, frame) of frames with a deadline; entries of frames that left are removed
        # lazily, and the heap is rebuilt once they outnumber the waiting frames (bound: 2 x queued + 64).
        self._deadlines: list[tuple[float, int, QueuedFrame]] = []
        self._tie_break = itertools.count()

    @property
    def queued(self) -> int:
        """Frames waiting across all cameras."""
        return self._queued

    @property
    def queued_bytes(self) -> int:
        """Image bytes of the frames waiting."""
        return self._queued_bytes

    def queue_depths(self) -> dict[str, int]:
        return {camera: len(queue) for camera, queue in self._queues.items()}

    def submit(self, frame: QueuedFrame) -> None:
        """Queues a frame, dropping others (or this one, if closed) by the policies above."""
        if self._closed:
            self._on_drop(frame, DropReason.SHUTDOWN)
            return
        frame.enqueued_at = self._clock()
        frame.budget_ms = self._budget_ms(frame.budget_ms)
        frame.deadline = None
        if frame.budget_ms is not None:  # the answer still has to travel: aim that much earlier
            frame.deadline = frame.enqueued_at + frame.budget_ms * (1 - self.policy.delivery_margin) / 1000.0
        queue = self._queues.get(frame.camera_id)
        if queue is None:
            queue = self._queues[frame.camera_id] = deque()
        if len(queue) >= self.policy.camera_queue_depth:
            self._drop_oldest(frame.camera_id, DropReason.SUPERSEDED)
            queue = self._queues.setdefault(frame.camera_id, deque())
        queue.append(frame)
        frame.waiting = True
        self._queued += 1
        self._queued_bytes += frame.size
        if frame.deadline is not None:
            heapq.heappush(self._deadlines, (frame.deadline, next(self._tie_break), frame))
            if len(self._deadlines) > 2 * self._queued + 64:
                self._deadlines = [entry for entry in self._deadlines if entry[2].waiting]
                heapq.heapify(self._deadlines)
        while self._queued > self.policy.max_queued_frames or self._queued_bytes > self.policy.max_queued_bytes:
            busiest = max(self._queues, key=lambda camera: len(self._queues[camera]))
            self._drop_oldest(busiest, DropReason.OVERLOAD)
        self._arrived.set()

    def _drop_oldest(self, camera_id: str, reason: DropReason) -> None:
        queue = self._queues[camera_id]
        dropped = queue.popleft()
        self._left(dropped)
        if not queue:
            del self._queues[camera_id]
        self._on_drop(dropped, reason)

    def _left(self, frame: QueuedFrame) -> None:
        """Accounts for a frame that left its camera queue (taken or dropped)."""
        frame.waiting = False
        self._queued -= 1
        self._queued_bytes -= frame.size

    def _budget_ms(self, requested_ms: float | None) -> float | None:
        """The budget a frame gets: the tighter of the policy's and its sender's; None: no deadline."""
        budgets = [b for b in (self.policy.latency_budget_ms, requested_ms) if b is not None and b > 0]
        return min(budgets) if budgets else None

    def observe_batch(self, size: int, seconds: float) -> None:
        """A batch of `size` frames took `seconds` from being taken to being answered."""
        self.service_times.observe(size, seconds)

    def _batch_limit(self) -> int:
        """`max_batch`, or with deadlines: drops the frames that cannot make theirs even alone, and returns
        the largest batch the tightest deadline waiting allows."""
        if self._tightest() is None:  # no frame waiting has a deadline: nothing to judge
            return self.policy.max_batch
        self.service_times.expire()
        alone = self.service_times.estimate(1)
        if alone is None:
            return self.policy.max_batch
        now = self._clock()
        self._drop_late(lambda deadline: deadline < now + alone)
        # With a backlog (overload) a full batch is worth more than the frames that would shrink it: those
        # that cannot make their deadline in a full batch go now, while enough frames remain to fill one.
        full = self.service_times.estimate(self.policy.max_batch) or alone
        self._drop_late(lambda deadline: self._queued > self.policy.max_batch and deadline < now + full)
        tightest = self._tightest()
        if tightest is None:
            return self.policy.max_batch
        return self.service_times.largest_within(tightest - now, self.policy.max_batch)

    def _tightest(self) -> float | None:
        """The earliest deadline of the frames waiting (None: no waiting frame has one)."""
        while self._deadlines and not self._deadlines[0][2].waiting:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def _drop_late(self, late: Callable[[float], bool]) -> None:
        """Drops waiting frames, earliest deadline first, while `late` holds for it (DropReason.DEADLINE)."""
        while (deadline := self._tightest()) is not None and late(deadline):
            frame = heapq.heappop(self._deadlines)[2]
            queue = self._queues[frame.camera_id]
            queue.remove(frame)  # at most camera_queue_depth long
            self._left(frame)
            if not queue:
                del self._queues[frame.camera_id]
            self._on_drop(frame, DropReason.DEADLINE)

    def _take_round_robin(self, limit: int) -> list[QueuedFrame]:
        batch: list[QueuedFrame] = []
        limit = min(limit, self._batch_limit())
        now = self._clock()
        max_age = self.policy.max_frame_age_ms / 1000.0
        while self._queues and len(batch) < limit:
            camera_id, queue = next(iter(self._queues.items()))
            frame = queue.popleft()
            self._left(frame)
            # The camera goes to the back of the round; an emptied camera leaves it.
            del self._queues[camera_id]
            if queue:
                self._queues[camera_id] = queue
            if now - frame.enqueued_at > max_age:
                self._on_drop(frame, DropReason.TOO_OLD)
            else:
                batch.append(frame)
        if not self._queues:
            self._arrived.clear()
        return batch

    async def next_batch(self) -> list[QueuedFrame]:
        """Waits for frames, lets a partial batch fill for up to `max_wait_ms`, returns the batch.

        Returns an empty list only once the scheduler is closed and empty.
        """
        while True:
            while not self._queues:
                if self._closed:
                    return []
                self._arrived.clear()  # it may still be set by frames since removed
                await self._arrived.wait()
            if self._queued < self.policy.max_batch and self.policy.max_wait_ms > 0:
                deadline = self._clock() + self.policy.max_wait_ms / 1000.0
                while self._queued < self.policy.max_batch and not self._closed:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        break
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), remaining)
                    except TimeoutError:
                        break
            batch = self.take_batch()
            if batch:
                return batch

    def take_batch(self) -> list[QueuedFrame]:
        """The batch due now, without waiting for one to fill (empty when nothing waits, or every frame
        waiting was dropped); what `next_batch` returns, for callers with their own clock (simulations)."""
        return self._take_round_robin(self.policy.max_batch)

    def remove(self, predicate: Callable[[QueuedFrame], bool], reason: DropReason) -> int:
        """Drops every waiting frame for which `predicate` holds (e.g. a cancelled stream's)."""
        removed = 0
        for camera_id in list(self._queues):
            queue = self._queues[camera_id]
            keep = deque(frame for frame in queue if not predicate(frame))
            for frame in queue:
                if predicate(frame):
                    removed += 1
                    self._left(frame)
                    self._on_drop(frame, reason)
            if keep:
                self._queues[camera_id] = keep
            else:
                del self._queues[camera_id]
        return removed

    def close(self) -> None:
        """Stops accepting frames; queued frames are still handed out by `next_batch`."""
        self._closed = True
        self._arrived.set()

    def drop_all(self, reason: DropReason) -> int:
        """Drops every waiting frame (end of a shutdown grace period)."""
        return self.remove(lambda _frame: True, reason)
