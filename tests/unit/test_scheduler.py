"""Scheduler policies, with exact counts: per-camera bounds, global bound, fairness, ageing, shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from anpr.scheduling import DropReason, FrameScheduler, QueuedFrame, SchedulerPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(policy: SchedulerPolicy, clock: FakeClock | None = None) -> tuple[FrameScheduler, list]:
    dropped: list[tuple[str, int, DropReason]] = []
    scheduler = FrameScheduler(
        policy, lambda f, r: dropped.append((f.camera_id, f.payload, r)), clock=clock or FakeClock()
    )
    return scheduler, dropped


def run(coro):
    return asyncio.run(coro)


def test_full_camera_queue_drops_its_oldest_frame_as_superseded() -> None:
    async def scenario():
        scheduler, dropped = make(SchedulerPolicy(camera_queue_depth=2, max_wait_ms=0))
        for sequence in range(5):
            scheduler.submit(QueuedFrame("cam-a", sequence))
        batch = await scheduler.next_batch()
        return [f.payload for f in batch], dropped

    batch, dropped = run(scenario())
    assert batch == [3, 4]  # the freshest frames win
    assert dropped == [
        ("cam-a", 0, DropReason.SUPERSEDED),
        ("cam-a", 1, DropReason.SUPERSEDED),
        ("cam-a", 2, DropReason.SUPERSEDED),
    ]


def test_global_bound_drops_the_busiest_cameras_oldest_frame() -> None:
    async def scenario():
        scheduler, dropped = make(SchedulerPolicy(camera_queue_depth=10, max_queued_frames=6, max_wait_ms=0))
        for sequence in range(5):
            scheduler.submit(QueuedFrame("busy", sequence))
        scheduler.submit(QueuedFrame("quiet-1", 0))
        scheduler.submit(QueuedFrame("quiet-2", 0))  # 7 > 6: busy loses its oldest
        scheduler.submit(QueuedFrame("quiet-3", 0))  # busy again
        return scheduler.queue_depths(), dropped

    depths, dropped = run(scenario())
    assert depths == {"busy": 3, "quiet-1": 1, "quiet-2": 1, "quiet-3": 1}
    assert dropped == [("busy", 0, DropReason.OVERLOAD), ("busy", 1, DropReason.OVERLOAD)]


def test_batches_take_one_frame_per_camera_per_round() -> None:
    async def scenario():
        scheduler, _ = make(SchedulerPolicy(camera_queue_depth=10, max_batch=4, max_wait_ms=0))
        for sequence in range(6):
            scheduler.submit(QueuedFrame("chatty", sequence))
        scheduler.submit(QueuedFrame("b", 0))
        scheduler.submit(QueuedFrame("c", 0))
        first = await scheduler.next_batch()
        second = await scheduler.next_batch()
        return [(f.camera_id, f.payload) for f in first], [(f.camera_id, f.payload) for f in second]

    first, second = run(scenario())
    assert first == [("chatty", 0), ("b", 0), ("c", 0), ("chatty", 1)]
    assert second == [("chatty", 2), ("chatty", 3), ("chatty", 4), ("chatty", 5)]


def test_a_camera_sending_20x_more_does_not_reduce_the_others_share() -> None:
    async def scenario():
        scheduler, dropped = make(SchedulerPolicy(camera_queue_depth=2, max_batch=4, max_wait_ms=0))
        processed: Counter[str] = Counter()
        for _tick in range(50):
            for k in range(20):
                scheduler.submit(QueuedFrame("chatty", k))
            for camera in ("q1", "q2", "q3"):
                scheduler.submit(QueuedFrame(camera, 0))
            # capacity: one batch of 4 per tick, less than the 23 offered
            processed.update(f.camera_id for f in await scheduler.next_batch())
        return processed, Counter(r for _, _, r in dropped), scheduler.queue_depths()

    processed, reasons, left = run(scenario())
    assert processed == {"chatty": 50, "q1": 50, "q2": 50, "q3": 50}  # every quiet frame processed
    # Only chatty's excess is dropped: 18 on the first tick, then 19 a tick; one frame still waits.
    assert reasons == {DropReason.SUPERSEDED: 18 + 49 * 19}
    assert left == {"chatty": 1}


def test_frames_that_waited_too_long_are_dropped_as_too_old() -> None:
    async def scenario():
        clock = FakeClock()
        scheduler, dropped = make(SchedulerPolicy(max_frame_age_ms=500, max_wait_ms=0), clock)
        scheduler.submit(QueuedFrame("a", 0))
        clock.now += 0.4
        scheduler.submit(QueuedFrame("b", 0))
        clock.now += 0.2  # a has waited 600 ms, b 200 ms
        batch = await scheduler.next_batch()
        return [f.camera_id for f in batch], dropped

    batch, dropped = run(scenario())
    assert batch == ["b"]
    assert dropped == [("a", 0, DropReason.TOO_OLD)]


def test_partial_batch_waits_for_more_frames_and_goes_once_full() -> None:
    async def scenario():
        scheduler, _ = make(SchedulerPolicy(max_batch=3, max_wait_ms=60_000))  # frozen clock: no timeout
        scheduler.submit(QueuedFrame("a", 0))
        waiter = asyncio.create_task(scheduler.next_batch())
        for _ in range(10):
            await asyncio.sleep(0)
        assert not waiter.done()  # one frame of three, and its wait is not over
        scheduler.submit(QueuedFrame("b", 0))
        scheduler.submit(QueuedFrame("c", 0))  # batch full: it goes without waiting out max_wait
        return [f.camera_id for f in await asyncio.wait_for(waiter, 5)]

    assert run(scenario()) == ["a", "b", "c"]


def test_partial_batch_goes_when_its_wait_is_over() -> None:
    async def scenario():
        scheduler = FrameScheduler(SchedulerPolicy(max_batch=3, max_wait_ms=20), lambda f, r: None)
        scheduler.submit(QueuedFrame("a", 0))
        return [f.camera_id for f in await asyncio.wait_for(scheduler.next_batch(), 5)]

    assert run(scenario()) == ["a"]


def test_remove_and_close_answer_every_waiting_frame_exactly_once() -> None:
    async def scenario():
        scheduler, dropped = make(SchedulerPolicy(camera_queue_depth=5, max_wait_ms=0))
        for camera in ("a", "b"):
            for sequence in range(3):
                scheduler.submit(QueuedFrame(camera, sequence))
        removed = scheduler.remove(lambda f: f.camera_id == "a", DropReason.CANCELLED)
        scheduler.close()
        scheduler.submit(QueuedFrame("c", 0))  # after close: refused with SHUTDOWN
        handed_out = await scheduler.next_batch()
        drained = await scheduler.next_batch()
        return removed, dropped, [f.payload for f in handed_out], drained, scheduler.queued

    removed, dropped, handed_out, drained, queued = run(scenario())
    assert removed == 3
    assert Counter(r for _, _, r in dropped) == {DropReason.CANCELLED: 3, DropReason.SHUTDOWN: 1}
    assert handed_out == [0, 1, 2] and drained == [] and queued == 0


@pytest.mark.parametrize("bad", [dict(max_batch=0), dict(camera_queue_depth=0), dict(unknown=1)])
def test_policy_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        SchedulerPolicy(**bad)


def test_waiting_for_frames_after_a_removal_yields_to_the_event_loop() -> None:
    async def scenario():
        scheduler, _ = make(SchedulerPolicy(max_wait_ms=0))
        scheduler.submit(QueuedFrame("gone", 0))
        scheduler.remove(lambda f: True, DropReason.CANCELLED)  # queue empty, but the event was set
        waiter = asyncio.create_task(scheduler.next_batch())
        await asyncio.sleep(0.01)  # a busy-looping next_batch would never let this line run
        scheduler.submit(QueuedFrame("next", 1))
        return [f.payload for f in await asyncio.wait_for(waiter, 1)]

    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(run(scenario())), daemon=True)
    worker.start()
    worker.join(5)  # a busy loop would hang the event loop: fail instead of hanging the suite
    assert outcome == [[1]]
