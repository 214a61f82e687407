"""The vehicle layer of a server: every processed frame's reads go to the pass tracker and the
hotlist; capture records and hits go to the event hub. Owns the tasks that close quiet passes and
reload the hotlist, and stops them on shutdown (closing the passes still open).

Hotlist contents and plate text are personal data: only counts are logged (DEBUG aside).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from anpr.contract import ModelVersion
from anpr.domain import PlateRead
from anpr.observability.metrics import ServerMetrics
from anpr.vehicles.events import EventHub
from anpr.vehicles.hotlist import Hotlist, HotlistError, HotlistSettings, load_hotlist
from anpr.vehicles.passes import PassSettings, PassTracker
from anpr.vehicles.patches import read_images
from anpr.vehicles.records import CaptureRecord, FrameReads, HotlistHit, ReadImages

if TYPE_CHECKING:
    from anpr.scheduling.dispatcher import PendingFrame

log = logging.getLogger(__name__)

EXPIRE_EVERY_S = 0.25


class EventSettings(BaseModel):
    """The `[events]` section: delivery to SubscribeEvents callers."""

    model_config = {"extra": "forbid", "frozen": True}

    subscriber_buffer: int = Field(1024, ge=1, description="events waiting per subscriber; beyond, it is cut off")
    max_subscribers: int = Field(64, ge=1, description="open SubscribeEvents calls")


def _file_signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class VehicleEvents:
    def __init__(
        self,
        passes: PassSettings,
        hotlist: HotlistSettings,
        events: EventSettings,
        metrics: ServerMetrics,
        model_versions: Callable[[], tuple[ModelVersion, ModelVersion]],
        executor: Executor | None = None,
        quiet_slack_s: float = 0.0,
    ) -> None:
        self.settings = passes
        self._model_versions = model_versions
        self.hotlist_settings = hotlist
        self.tracker = PassTracker(passes, quiet_slack_s=quiet_slack_s)
        self.hub = EventHub(events.subscriber_buffer, events.max_subscribers)
        self.hotlist: Hotlist | None = None
        self.hotlist_written_at: float | None = None  # the loaded file's modification time (Unix seconds)
        self.reloads = 0
        self._metrics = metrics
        self._executor = executor
        self._signature: tuple[int, int] | None = None
        self._reload_now = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Loads the hotlist (a bad file fails start-up) and starts the background tasks."""
        if self.hotlist_settings.file is not None:
            await self._load(self.hotlist_settings.file)
            self._tasks.append(asyncio.create_task(self._watch_hotlist(), name="hotlist-watch"))
        self._tasks.append(asyncio.create_task(self._expire(), name="pass-expiry"))

    async def _load(self, path: Path) -> None:
        signature = _file_signature(path)
        loaded = await asyncio.get_running_loop().run_in_executor(
            self._executor, load_hotlist, path, self.hotlist_settings
        )
        self.hotlist, self._signature = loaded, signature  # swapped whole: a read sees one list or the other
        self.hotlist_written_at = signature[0] / 1e9 if signature else time.time()
        self._metrics.hotlist_entries.set(len(loaded))
        log.info("hotlist loaded: %d entries", len(loaded))

    def reload_hotlist(self) -> None:
        """Reloads the hotlist now (SIGHUP), whether or not its file looks changed."""
        self._reload_now.set()

    async def _watch_hotlist(self) -> None:
        path = self.hotlist_settings.file
        assert path is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reload_now.wait(), self.hotlist_settings.reload_interval_s)
            forced = self._reload_now.is_set()
            self._reload_now.clear()
            if not forced and _file_signature(path) == self._signature:
                continue
            try:
                await self._load(path)
            except HotlistError as error:  # the message names a line, never a plate
                self._metrics.hotlist_reload_failures.inc()
                log.error("hotlist not reloaded, the previous one stays in use: %s", error)
                continue
            self.reloads += 1

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            self._publish_records(self.tracker.expire())
            self._metrics.open_passes.set(self.tracker.open_passes)
            if self.hotlist_written_at is not None:
                self._metrics.hotlist_age.set(time.time() - self.hotlist_written_at)

    def read_images(self, frame: np.ndarray, reads: list[PlateRead]) -> tuple[ReadImages, ...]:
        """Plate patches (and overviews, if configured) of a frame's reads: in a worker thread."""
        return read_images(frame, reads, self.settings.overview_images)

    def patch_images(self, reads: list[PlateRead], patches: tuple[bytes, ...]) -> tuple[ReadImages, ...]:
        """The images of reads made by Triton's pipeline: its plate patches (no overview: no frame here)."""
        return tuple(ReadImages(patch, None) for patch in patches)

    def frame_read(self, frame: PendingFrame, reads: list[PlateRead], images: Sequence[ReadImages]) -> None:
        """The dispatcher's hand-over of a processed frame (on the event loop)."""
        received_wall = time.time() - (time.monotonic() - frame.received_at)
        self.observe(
            FrameReads(
                frame.camera_id,
                frame.sequence,
                frame.captured_at,
                frame.received_at,
                received_wall,
                tuple(reads),
                tuple(images),
                self._model_versions(),
            )
        )

    def observe(self, frame: FrameReads) -> None:
        """A processed frame's reads (on the event loop): passes, hotlist hits, closed records."""
        joined, closed = self.tracker.observe(frame)
        hotlist = self.hotlist
        if hotlist is not None:
            for open_pass, read in joined:
                for match in hotlist.match(read.text):
                    if match.entry.plate in open_pass.hits:
                        continue  # this vehicle already raised this entry's hit
                    open_pass.hits.add(match.entry.plate)
                    images = open_pass.images
                    hit = HotlistHit(
                        open_pass.pass_id,
                        frame.camera_id,
                        frame.sequence,
                        match.entry,
                        match.kind,
                        read,
                        frame.captured_at if frame.captured_at is not None else frame.received_wall,
                        frame.received_at,
                        images.plate_patch if images else None,
                    )
                    self.hub.publish(hit)
                    self._metrics.hotlist_hits.labels(match.kind.name).inc()
                    self._metrics.hit_latency.observe(time.monotonic() - frame.received_at)
                    log.debug("hotlist hit (%s) on camera %s: %s", match.kind.name, frame.camera_id, read.text)
        self._publish_records(closed)

    def _publish_records(self, records: list[CaptureRecord]) -> None:
        for record in records:
            if not self.tracker.is_vehicle(record):
                self._metrics.passes_discarded.inc()
                continue
            self.hub.publish(record)
            self._metrics.passes_closed.inc()
            self._metrics.pass_frames.observe(record.frames)

    async def stop(self) -> None:
        """Stops the tasks and publishes the passes still open (shutdown closes them)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._publish_records(self.tracker.close_all())
