"""The per-camera stats book: bounded, and evicting in O(1) (it never walks the book)."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from anpr.domain import FrameStatus
from anpr.observability import CameraStatsBook


class CountingBook(OrderedDict):
    """Counts every walk over the book's entries."""

    walks = 0

    def __iter__(self):
        CountingBook.walks += 1
        return super().__iter__()

    def items(self):
        CountingBook.walks += 1
        return super().items()

    def values(self):
        CountingBook.walks += 1
        return super().values()


def test_past_its_bound_the_book_forgets_the_longest_silent_camera_without_walking_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond 20,000 ids the old book scanned every entry per new id (intake fell from ~3,000 to
    ~110 frames/s); now a new id costs the same at any size."""
    book = CameraStatsBook(max_cameras=1000)
    book._cameras = CountingBook()
    CountingBook.walks = 0
    for k in range(1000):
        book.received(f"cam-{k}")
    book.received("cam-0")  # heard from again: now the most recent
    for k in range(50_000):
        book.received(f"spoof-{k}")
        book.answered(f"spoof-{k}", FrameStatus.INVALID, 1.0)
    assert CountingBook.walks == 0
    assert len(book._cameras) == 1000
    kept = book.snapshot()
    assert "cam-1" not in kept and f"spoof-{49_999}" in kept and kept[f"spoof-{49_999}"].invalid == 1


def test_the_camera_heard_from_most_recently_is_kept_longest() -> None:
    book = CameraStatsBook(max_cameras=3)
    for camera in ("a", "b", "c"):
        book.received(camera)
    book.received("a")
    book.received("d")  # evicts b, the longest silent
    assert sorted(book.snapshot()) == ["a", "c", "d"]
    book.answered("b", FrameStatus.PROCESSED, 5.0)  # an answer for an evicted camera does not bring it back
    assert "b" not in book.snapshot()
    assert book.active() == 3
    assert sorted(book.snapshot({"a", "zz"})) == ["a"]
