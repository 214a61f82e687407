"""Reads of one vehicle across a camera's frames, joined into one pass; a closed pass is a capture record.

A read joins the open pass of its camera whose text it is closest to (confusion-weighted edit
distance: a look-alike swap costs 0.3, any other edit 1) if its box is where that vehicle could
have moved to; a frame gives each pass at most one read. A pass closes `gap_ms` after its last read
or `max_ms` after its first. Times are the camera's (`captured_at`) when frames carry one, so a
camera's passes do not depend on how fast its frames travel, else the time of receipt.

All of it runs on the event loop: a few dictionary lookups and short string comparisons per read.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, Field

from anpr.contract import ModelVersion
from anpr.domain import PlateRead
from anpr.vehicles.records import CaptureRecord, Direction, FrameReads, ReadImages
from anpr.vehicles.similarity import confusion_distance
from anpr.vehicles.voting import vote


class PassSettings(BaseModel):
    """The `[passes]` section."""

    model_config = {"extra": "forbid", "frozen": True}

    enabled: bool = Field(True, description="group reads into passes (capture records) and match the hotlist")
    gap_ms: float = Field(1500.0, gt=0, description="a pass closes this long after its last read")
    max_ms: float = Field(30000.0, gt=0, description="and at the latest this long after its first")
    max_open_per_camera: int = Field(32, ge=1, description="open passes kept per camera (the oldest closes)")
    max_cameras: int = Field(20000, ge=1, description="cameras with open passes (the longest silent closes)")
    overview_images: bool = Field(False, description="capture records also carry a small overview JPEG")
    # What makes a pass a vehicle: signs, stickers and scene texture are read now and then, in a frame
    # or two, short and unsure; a plate passing a camera is read in several frames.
    min_frames: int = Field(2, ge=1, description="a pass read in fewer frames is no capture record")
    min_confidence: float = Field(0.5, ge=0, le=1, description="nor is one whose vote is less sure than this")
    min_characters: int = Field(2, ge=1, description="nor a shorter text that fits no plate format")
    report_stationary: bool = Field(
        False, description="also report passes whose plate never moved (signs, parked cars) as capture records"
    )


# Text distance a read may be from a pass to join it: looser when its box is where the vehicle was.
MAX_DISTANCE_NEAR = 0.34  # of the text's length (a 7-character plate: 2.4, two edits or many look-alikes),
# and at least one edit whatever the length (a 2-character personalised plate)
MAX_DISTANCE_FAR = 1.0  # an absolute distance: one edit


@dataclass
class OpenPass:
    pass_id: str
    camera_id: str
    first_seen: float
    last_seen: float
    last_activity: float  # server clock: the last frame of its camera, for closing it when the camera goes quiet
    model_versions: tuple[ModelVersion, ModelVersion]
    reads: list[PlateRead] = field(default_factory=list)
    sequences: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    best: int = 0  # index of the most confident read
    images: ReadImages | None = None  # of the best read
    hits: set[str] = field(default_factory=set)  # hotlist plates already reported for this pass

    @property
    def text(self) -> str:
        return self.reads[self.best].text

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.reads[-1].box


def _box_near(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether box b could be the plate of box a a frame or so later: close, of a similar size."""
    aw, ah, bw, bh = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    if min(aw, ah, bw, bh) <= 0 or not 0.5 <= bh / ah <= 2.0:
        return False
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    return bool(np.hypot(dx, dy) <= 2.5 * max(aw, bw))


def stationary(boxes: list[tuple[float, float, float, float]]) -> bool:
    """Whether a plate stayed put over its pass: centre within half a plate height of where it was first
    read and its size within 10%: a sign, a sticker or a parked car, not a vehicle passing."""
    if len(boxes) < 2:
        return False
    x1, y1, x2, y2 = boxes[0]
    height = y2 - y1
    for bx1, by1, bx2, by2 in boxes[1:]:
        moved = np.hypot((bx1 + bx2 - x1 - x2) / 2, (by1 + by2 - y1 - y2) / 2)
        if moved > 0.5 * height or abs((by2 - by1) / height - 1) > 0.1:
            return False
    return True


def direction_of(times: list[float], heights: list[float]) -> Direction:
    """Towards when the plate grows by a sixth or more over the pass, away when it shrinks as much."""
    if len(heights) < 3 or max(times) <= min(times):
        return Direction.UNKNOWN
    slope = np.polyfit(np.array(times) - times[0], np.log(np.array(heights)), 1)[0]
    change = float(np.exp(slope * (max(times) - min(times))))
    if change >= 1.15:
        return Direction.TOWARDS
    if change <= 1 / 1.15:
        return Direction.AWAY
    return Direction.UNKNOWN


class PassTracker:
    """Open passes per camera. Not thread-safe: call it on the event loop."""

    def __init__(
        self, settings: PassSettings, clock: Callable[[], float] = time.monotonic, quiet_slack_s: float = 0.0
    ) -> None:
        self.settings = settings
        self._clock = clock
        # A camera's frames may wait in the scheduler for up to max_frame_age_ms: only a camera silent
        # for gap_ms plus that long has really gone quiet.
        self.quiet_slack_s = quiet_slack_s
        # camera -> its open passes, oldest first; cameras in order of their last read (the quietest first)
        self._open: OrderedDict[str, list[OpenPass]] = OrderedDict()

    @property
    def open_passes(self) -> int:
        return sum(len(passes) for passes in self._open.values())

    def observe(self, frame: FrameReads) -> tuple[list[tuple[OpenPass, PlateRead]], list[CaptureRecord]]:
        """Adds a frame's reads: returns (each read with the pass it joined or opened, passes it closed)."""
        now = self._clock()
        moment = frame.captured_at if frame.captured_at is not None else frame.received_wall
        closed: list[CaptureRecord] = []
        passes = self._open.get(frame.camera_id)
        if passes is None:
            if not frame.reads:
                return [], []  # nothing open, nothing to open
            passes = self._open[frame.camera_id] = []
        for stale in [p for p in passes if moment - p.last_seen > self.settings.gap_ms / 1000]:
            passes.remove(stale)
            closed.append(self.record(stale))
        for waiting in passes:  # a frame of its camera: not quiet, whether or not this vehicle was read
            waiting.last_activity = now
        claimed: set[str] = set()
        joined: list[tuple[OpenPass, PlateRead]] = []
        for read, images in zip(frame.reads, frame.images):
            chosen = self._closest(passes, read, claimed)
            if chosen is None:
                chosen = OpenPass(uuid.uuid4().hex, frame.camera_id, moment, moment, now, frame.model_versions)
                passes.append(chosen)
                if len(passes) > self.settings.max_open_per_camera:
                    closed.append(self.record(passes.pop(0)))
            claimed.add(chosen.pass_id)
            chosen.reads.append(read)
            chosen.sequences.append(frame.sequence)
            chosen.times.append(moment)
            chosen.last_seen = max(chosen.last_seen, moment)
            if read.confidence >= chosen.reads[chosen.best].confidence or chosen.images is None:
                chosen.best = len(chosen.reads) - 1
                chosen.images = images or chosen.images
            joined.append((chosen, read))
        for long in [p for p in passes if p.last_seen - p.first_seen > self.settings.max_ms / 1000]:
            passes.remove(long)
            closed.append(self.record(long))
        if passes:
            self._open.move_to_end(frame.camera_id)
        else:
            del self._open[frame.camera_id]
        while len(self._open) > self.settings.max_cameras:
            _, quietest = self._open.popitem(last=False)
            closed.extend(self.record(p) for p in quietest)
        return joined, closed

    def _closest(self, passes: list[OpenPass], read: PlateRead, claimed: set[str]) -> OpenPass | None:
        best, best_distance = None, float("inf")
        for candidate in passes:
            if candidate.pass_id in claimed:
                continue
            distance = min(confusion_distance(read.text, earlier.text) for earlier in candidate.reads[-4:])
            near = _box_near(candidate.box, read.box)
            longest = max(len(read.text), len(candidate.text))
            limit = max(MAX_DISTANCE_FAR, MAX_DISTANCE_NEAR * longest) if near else MAX_DISTANCE_FAR
            if distance <= limit and distance < best_distance:
                best, best_distance = candidate, distance
        return best

    def expire(self) -> list[CaptureRecord]:
        """Closes the passes of cameras with no frame processed for `gap_ms` plus `quiet_slack_s` of server
        time (they went quiet), and passes longer than `max_ms`. Called periodically; walks the open passes."""
        cutoff = self._clock() - self.settings.gap_ms / 1000 - self.quiet_slack_s
        limit = self.settings.max_ms / 1000
        closed: list[CaptureRecord] = []
        for camera in list(self._open):
            passes = self._open[camera]
            for quiet in [p for p in passes if p.last_activity < cutoff or p.last_seen - p.first_seen > limit]:
                passes.remove(quiet)
                closed.append(self.record(quiet))
            if not passes:
                del self._open[camera]
        return closed

    def close_all(self) -> list[CaptureRecord]:
        closed = [self.record(p) for passes in self._open.values() for p in passes]
        self._open.clear()
        return closed

    def is_vehicle(self, record: CaptureRecord) -> bool:
        """Whether a closed pass is a capture record (see PassSettings.min_*), not a sign read twice."""
        s = self.settings
        plate_like = len(record.text) >= s.min_characters or record.plate_format is not None
        moving = s.report_stationary or not record.stationary
        return record.frames >= s.min_frames and record.confidence >= s.min_confidence and plate_like and moving

    def record(self, finished: OpenPass) -> CaptureRecord:
        voted = vote(finished.reads)
        texts: dict[str, int] = {}
        for read in finished.reads:
            texts[read.text] = texts.get(read.text, 0) + 1
        formats = [read.plate_format for read in finished.reads if read.text == voted.text and read.plate_format]
        heights = [read.box[3] - read.box[1] for read in finished.reads]
        return CaptureRecord(
            pass_id=finished.pass_id,
            camera_id=finished.camera_id,
            text=voted.text,
            confidence=voted.confidence,
            plate_format=formats[0] if formats else None,
            first_seen=finished.first_seen,
            last_seen=finished.last_seen,
            frames=len(finished.reads),
            best_sequence=finished.sequences[finished.best],
            direction=direction_of(finished.times, heights),
            stationary=stationary([read.box for read in finished.reads]),
            model_versions=finished.model_versions,
            plate_patch=finished.images.plate_patch if finished.images else None,
            overview=finished.images.overview if finished.images else None,
            texts_seen=texts,
        )
