"""Per-camera counters for the operator who asks (GetStats / `anpr stats`), not for Prometheus."""

from __future__ import annotations

import time
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
    """Bounded: cameras silent for `forget_after_s` are forgotten when space is needed."""

    def __init__(self, max_cameras: int = 20000, forget_after_s: float = 3600.0) -> None:
        self.max_cameras = max_cameras
        self.forget_after_s = forget_after_s
        self._cameras: dict[str, CameraStats] = {}

    def _get(self, camera_id: str) -> CameraStats:
        stats = self._cameras.get(camera_id)
        if stats is None:
            if len(self._cameras) >= self.max_cameras:
                self._forget_silent()
            stats = self._cameras[camera_id] = CameraStats()
        return stats

    def _forget_silent(self) -> None:
        cutoff = time.monotonic() - self.forget_after_s
        for camera_id in [c for c, s in self._cameras.items() if s.last_frame_at < cutoff]:
            del self._cameras[camera_id]
        while len(self._cameras) >= self.max_cameras:  # all recent: forget the longest silent
            del self._cameras[min(self._cameras, key=lambda c: self._cameras[c].last_frame_at)]

    def received(self, camera_id: str) -> None:
        stats = self._get(camera_id)
        stats.received += 1
        stats.last_frame_at = time.monotonic()

    def answered(self, camera_id: str, status: FrameStatus, total_ms: float) -> None:
        stats = self._get(camera_id)
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
        cutoff = time.monotonic() - within_s
        return sum(1 for s in self._cameras.values() if s.last_frame_at >= cutoff)

    def snapshot(self) -> dict[str, CameraStats]:
        return {camera: CameraStats(**vars(stats)) for camera, stats in sorted(self._cameras.items())}
