"""Per-camera counters for the operator who asks (GetStats / `anpr stats`), not for Prometheus."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from anpr.domain import FrameStatus


@dataclass
class CameraStats:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    invalid: int = 0
    failed: int = 0
    last_frame_at: float = 0.0  # monotonic seconds
    last_latency_ms: float = 0.0  # receipt to result of the last processed frame


class CameraStatsBook:
    """Bounded at `max_cameras`: a new camera beyond it evicts the one silent longest, in O(1) (the
    book is kept in order of last frame received). Camera ids are checked before they get here, so an
    entry is at most `max_camera_id_length` characters plus its counters."""

    def __init__(self, max_cameras: int = 20000) -> None:
        self.max_cameras = max_cameras
        self._cameras: OrderedDict[str, CameraStats] = OrderedDict()

    def _get(self, camera_id: str) -> CameraStats:
        stats = self._cameras.get(camera_id)
        if stats is None:
            if len(self._cameras) >= self.max_cameras:
                self._cameras.popitem(last=False)  # the longest silent
            stats = self._cameras[camera_id] = CameraStats()
        return stats

    def received(self, camera_id: str) -> None:
        stats = self._get(camera_id)
        stats.received += 1
        stats.last_frame_at = time.monotonic()
        self._cameras.move_to_end(camera_id)

    def answered(self, camera_id: str, status: FrameStatus, total_ms: float) -> None:
        stats = self._cameras.get(camera_id)
        if stats is None:  # evicted since its frame came in
            return
        if status is FrameStatus.PROCESSED:
            stats.processed += 1
            stats.last_latency_ms = total_ms
        elif status is FrameStatus.INVALID:
            stats.invalid += 1
        elif status is FrameStatus.FAILED:
            stats.failed += 1
        else:
            stats.dropped += 1

    def active(self, within_s: float = 60.0) -> int:
        """Cameras heard from in the last `within_s` seconds: the newest end of the book."""
        cutoff = time.monotonic() - within_s
        count = 0
        for stats in reversed(self._cameras.values()):
            if stats.last_frame_at < cutoff:
                break
            count += 1
        return count

    def snapshot(self, camera_ids: set[str] | None = None) -> dict[str, CameraStats]:
        """Copies of the stats of `camera_ids` (every camera when None), by camera id."""
        if camera_ids is None:
            chosen = self._cameras.items()
        else:
            chosen = ((c, self._cameras[c]) for c in camera_ids if c in self._cameras)  # type: ignore[assignment]
        return {camera: CameraStats(**vars(stats)) for camera, stats in sorted(chosen)}
