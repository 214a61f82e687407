"""The batch dispatcher's own guarantee, step by step on one event loop: every frame it takes is answered."""

from __future__ import annotations

import asyncio

import numpy as np

from anpr.domain import FrameOutcome, FrameStatus, Reason
from anpr.inference.backend import NullBackend
from anpr.inference.pipeline import PipelineSettings
from anpr.scheduling import SchedulerPolicy
from anpr.scheduling.dispatcher import BatchDispatcher, PendingFrame


def pending(sequence: int, answers: dict[int, FrameOutcome]) -> PendingFrame:
    return PendingFrame(
        "cam",
        sequence,
        lambda: np.zeros((48, 64, 3), np.uint8),
        0.0,
        lambda frame, outcome: answers.__setitem__(frame.sequence, outcome),
    )


def test_a_batch_cancelled_before_it_started_is_still_answered() -> None:
    """Drain can cancel a batch task the dispatcher created but the loop never ran: its frames are still
    answered (they once were lost: the handler inside the task never ran)."""

    async def scenario() -> tuple[dict[int, FrameOutcome], int]:
        answers: dict[int, FrameOutcome] = {}
        dispatcher = BatchDispatcher(
            NullBackend(), PipelineSettings(), SchedulerPolicy(max_batch=1, max_wait_ms=0, camera_queue_depth=10), 1
        )
        dispatcher.start()
        for sequence in range(3):
            dispatcher.submit(pending(sequence, answers))
        while not dispatcher.frames_in_flight:  # the loop took frame 0; its task has not had a step yet
            await asyncio.sleep(0)
        taken_before_drain = dispatcher.frames_in_flight
        await dispatcher.drain(0.0)
        return answers, taken_before_drain

    answers, taken = asyncio.run(scenario())
    assert taken == 1
    assert sorted(answers) == [0, 1, 2]
    assert answers[0].status is FrameStatus.FAILED and answers[0].code is Reason.SHUTDOWN
    assert {answers[1].status, answers[2].status} == {FrameStatus.DROPPED_OVERLOAD}


def test_a_null_backend_with_a_batch_time_answers_after_it_and_batches_what_arrived_meanwhile() -> None:
    """Benchmarks stand a GPU's batch time in for models (`null_batch_ms`): frames that arrive while a
    batch is out wait for the next, which takes them together."""

    async def scenario() -> tuple[dict[int, FrameOutcome], float, list[int]]:
        answers: dict[int, FrameOutcome] = {}
        backend = NullBackend(0.05)
        sizes: list[int] = []
        detect = backend.detect

        async def counted(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            sizes.append(len(images))
            return await detect(images)

        backend.detect = counted  # type: ignore[method-assign]
        dispatcher = BatchDispatcher(
            backend, PipelineSettings(), SchedulerPolicy(max_batch=16, max_wait_ms=0, camera_queue_depth=20), 1
        )
        dispatcher.start()
        started = asyncio.get_running_loop().time()
        dispatcher.submit(pending(0, answers))
        while not dispatcher.frames_in_flight:
            await asyncio.sleep(0)
        for sequence in range(1, 6):
            dispatcher.submit(pending(sequence, answers))
        while len(answers) < 6:
            await asyncio.sleep(0.01)
        elapsed = asyncio.get_running_loop().time() - started
        await dispatcher.drain(1.0)
        return answers, elapsed, sizes

    answers, elapsed, sizes = asyncio.run(scenario())
    assert all(outcome.status is FrameStatus.PROCESSED for outcome in answers.values())
    assert sizes == [1, 5]
    assert elapsed >= 0.1  # two batches, each at least its 50 ms
