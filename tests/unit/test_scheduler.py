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


def test_service_times_learn_a_high_percentile_per_batch_size_and_interpolate() -> None:
    from anpr.scheduling.service_times import ServiceTimes

    times = ServiceTimes(percentile=90, window=10)
    assert times.estimate(4) is None and times.largest_within(0.1, 16) == 16  # nothing learned: no guess
    for k in range(10):
        times.observe(8, 0.100 + 0.001 * k)  # 0.100 .. 0.109
    times.observe(16, 0.200)
    assert times.estimate(8) == pytest.approx(0.1081)
    assert times.estimate(12) == pytest.approx((0.1081 + 0.2) / 2)
    assert times.estimate(4) == pytest.approx(0.1081)  # smaller than any seen: no cheaper than the smallest
    assert times.estimate(32) == pytest.approx(0.4)  # larger: scaled up with the frames
    for _ in range(10):
        times.observe(8, 0.050)  # the window forgets the slow past
    assert times.estimate(8) == pytest.approx(0.050)
    assert times.largest_within(0.125, 16) == 12 and times.largest_within(0.01, 16) == 1


def _learned(scheduler: FrameScheduler) -> None:
    for size, seconds in ((1, 0.05), (8, 0.15), (16, 0.30)):
        scheduler.observe_batch(size, seconds)


def test_a_frame_that_cannot_make_its_deadline_is_dropped_before_it_is_scheduled() -> None:
    async def scenario():
        clock = FakeClock()
        scheduler, dropped = make(SchedulerPolicy(latency_budget_ms=300, max_wait_ms=0, camera_queue_depth=4), clock)
        _learned(scheduler)
        scheduler.submit(QueuedFrame("cam-a", "late"))
        clock.now += 0.26  # 40 ms left: less than a batch of one takes (50 ms)
        scheduler.submit(QueuedFrame("cam-a", "fresh"))
        scheduler.submit(QueuedFrame("cam-b", "fresh-b"))
        batch = await scheduler.next_batch()
        return [f.payload for f in batch], dropped

    batch, dropped = run(scenario())
    assert dropped == [("cam-a", "late", DropReason.DEADLINE)]  # never handed out: never decoded
    assert sorted(batch) == ["fresh", "fresh-b"]
    assert DropReason.DEADLINE.code.value == "deadline"


def test_batches_shrink_as_the_deadlines_tighten() -> None:
    sizes = []
    for waited in (0.0, 0.2, 0.33):
        clock = FakeClock()
        scheduler, dropped = make(
            SchedulerPolicy(latency_budget_ms=400, max_wait_ms=0, max_batch=16, delivery_margin=0), clock
        )
        _learned(scheduler)
        for camera in range(12):
            scheduler.submit(QueuedFrame(f"cam-{camera}", camera))
        clock.now += waited
        sizes.append(len(run(scheduler.next_batch())))
        assert not dropped
    # 400 ms of slack: all 12 (0.225 s); 200 ms: 10 (by interpolation, 0.15 + 2/8 x 0.15 = 0.19 s);
    # 70 ms: 2 (0.064 s).
    assert sizes == [12, 10, 2]


def test_with_a_backlog_the_frames_that_would_shrink_a_full_batch_go_first() -> None:
    clock = FakeClock()
    scheduler, dropped = make(
        SchedulerPolicy(latency_budget_ms=400, max_wait_ms=0, max_batch=16, camera_queue_depth=4), clock
    )
    _learned(scheduler)
    for camera in range(16):
        scheduler.submit(QueuedFrame(f"cam-{camera}", "old"))
    clock.now += 0.2  # the old frames have 200 ms left: not enough for a full batch (300 ms)
    for camera in range(16):
        scheduler.submit(QueuedFrame(f"cam-{camera}", "new"))
    batch = run(scheduler.next_batch())
    assert [f.payload for f in batch] == ["new"] * 16  # a full batch, all of it in time
    assert sorted(dropped) == sorted((f"cam-{c}", "old", DropReason.DEADLINE) for c in range(16))


def test_round_robin_stays_fair_under_a_skewed_load_with_a_budget() -> None:
    async def scenario():
        clock = FakeClock()
        scheduler, dropped = make(SchedulerPolicy(latency_budget_ms=1000, max_wait_ms=0, camera_queue_depth=10), clock)
        for size, seconds in ((1, 0.05), (4, 0.2), (8, 4.0)):  # the budget allows batches of 4
            scheduler.observe_batch(size, seconds)
        taken: Counter = Counter()
        for round_ in range(6):
            for k in range(10):
                scheduler.submit(QueuedFrame("busy", (round_, k)))
            for quiet in range(3):
                scheduler.submit(QueuedFrame(f"quiet-{quiet}", round_))
            batch = await scheduler.next_batch()
            assert len(batch) == 4
            taken.update(f.camera_id for f in batch)
            clock.now += 0.05
        return taken, dropped

    taken, dropped = run(scenario())
    assert taken["busy"] == 6 and all(taken[f"quiet-{q}"] == 6 for q in range(3))  # one frame a camera a batch
    assert {reason for _, _, reason in dropped} <= {DropReason.SUPERSEDED}  # the busy camera's own overflow


def test_a_frame_may_ask_for_a_tighter_budget_but_not_a_looser_one() -> None:
    clock = FakeClock()
    scheduler, dropped = make(SchedulerPolicy(latency_budget_ms=400, max_wait_ms=0, camera_queue_depth=4), clock)
    _learned(scheduler)
    scheduler.submit(QueuedFrame("cam-a", "tight", budget_ms=100))
    scheduler.submit(QueuedFrame("cam-b", "loose", budget_ms=5000))  # the server's 400 ms still holds
    scheduler.submit(QueuedFrame("cam-c", "default"))
    clock.now += 0.07  # "tight" has 30 ms left: less than a batch of one (50 ms)
    batch = run(scheduler.next_batch())
    assert dropped == [("cam-a", "tight", DropReason.DEADLINE)]
    assert sorted(f.payload for f in batch) == ["default", "loose"]
    clock.now += 0.4
    scheduler.submit(QueuedFrame("cam-b", "late-loose", budget_ms=5000))
    clock.now += 0.36  # 40 ms left of the server's 400, however long the frame asked for
    scheduler.submit(QueuedFrame("cam-c", "fresh"))
    assert [f.payload for f in run(scheduler.next_batch())] == ["fresh"]
    assert dropped[-1] == ("cam-b", "late-loose", DropReason.DEADLINE)


def test_a_frames_own_budget_turns_deadlines_on_without_a_server_budget() -> None:
    clock = FakeClock()
    scheduler, dropped = make(SchedulerPolicy(max_wait_ms=0), clock)
    _learned(scheduler)
    scheduler.submit(QueuedFrame("cam-a", "asked", budget_ms=200))
    scheduler.submit(QueuedFrame("cam-b", "no budget"))
    clock.now += 0.5
    batch = run(scheduler.next_batch())
    assert dropped == [("cam-a", "asked", DropReason.DEADLINE)]
    assert [f.payload for f in batch] == ["no budget"]  # waited 500 ms, within max_frame_age_ms


def test_deadlines_of_frames_that_left_do_not_pile_up() -> None:
    clock = FakeClock()
    scheduler, dropped = make(SchedulerPolicy(latency_budget_ms=1000, max_wait_ms=0, camera_queue_depth=1), clock)
    for k in range(10_000):  # each frame supersedes the one before: one waits, 9,999 left
        scheduler.submit(QueuedFrame("cam-a", k))
    assert scheduler.queued == 1 and len(dropped) == 9_999
    assert len(scheduler._deadlines) <= 2 * scheduler.queued + 64 + 1


def test_batches_aim_a_margin_before_the_budget_for_the_answers_way_back() -> None:
    clock = FakeClock()
    scheduler, dropped = make(SchedulerPolicy(latency_budget_ms=100, max_wait_ms=0, delivery_margin=0.2), clock)
    _learned(scheduler)  # a batch of one: 50 ms
    scheduler.submit(QueuedFrame("cam-a", "late"))
    clock.now += 0.035  # 65 ms of the budget left, but only 45 ms of the 80 the server aims for
    scheduler.submit(QueuedFrame("cam-b", "fresh"))
    assert [f.payload for f in run(scheduler.next_batch())] == ["fresh"]
    assert dropped == [("cam-a", "late", DropReason.DEADLINE)]


def test_learned_times_are_forgotten_so_a_hopeless_looking_budget_cannot_starve_itself() -> None:
    clock = FakeClock()
    scheduler, dropped = make(SchedulerPolicy(latency_budget_ms=100, max_wait_ms=0, delivery_margin=0), clock)
    scheduler.observe_batch(1, 0.5)  # once, behind a long batch: a batch of one "takes" 500 ms
    scheduler.submit(QueuedFrame("cam-a", "judged"))
    assert scheduler.take_batch() == []  # judged hopeless: dropped, nothing run
    assert dropped == [("cam-a", "judged", DropReason.DEADLINE)]
    clock.now += scheduler.service_times.max_age_s + 1  # that time is forgotten: nothing is dropped on it
    scheduler.submit(QueuedFrame("cam-a", "runs"))
    assert [f.payload for f in scheduler.take_batch()] == ["runs"]
