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
