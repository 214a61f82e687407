"""What the vehicle layer sees and says: reads of one frame in, capture records and hotlist hits out.

A *capture record* is one vehicle passing one camera (the UK national ANPR standards' term): the best
text of the reads of that pass, with a plate patch. A *hit* is a read that matches the hotlist, sent
the moment it is made. Both carry plate text: personal data, never logged above DEBUG.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from anpr.contract import ModelVersion
from anpr.domain import PlateRead


class Direction(enum.Enum):
    """Of travel, from the plate's size over the pass: growing is towards the camera."""

    UNKNOWN = 0
    TOWARDS = 1
    AWAY = 2


class MatchKind(enum.Enum):
    EXACT = 1
    LOOKALIKE = 2  # equal once look-alike characters (O/0, I/1, B/8...) are made equal
    ONE_EDIT = 3  # one character inserted, deleted or replaced


@dataclass(frozen=True)
class ReadImages:
    """JPEG images of one read: the plate patch and, when asked for, a small overview of its frame."""

    plate_patch: bytes
    overview: bytes | None = None


@dataclass(frozen=True)
class FrameReads:
    """The reads of one processed frame, as the vehicle layer receives them."""

    camera_id: str
    sequence: int
    captured_at: float | None  # the camera's own time (Unix seconds), when the frame carried one
    received_at: float  # monotonic seconds, on receipt
    received_wall: float  # Unix seconds, on receipt
    reads: tuple[PlateRead, ...]
    images: tuple[ReadImages | None, ...]  # one per read
    model_versions: tuple[ModelVersion, ModelVersion]


@dataclass(frozen=True)
class HotlistEntry:
    plate: str
    category: str  # e.g. stolen, no_insurance, wanted
    priority: int  # 1 is the most urgent
    note: str = ""


@dataclass(frozen=True)
class HotlistHit:
    """A read matching a hotlist entry, sent as soon as the read is made."""

    pass_id: str
    camera_id: str
    sequence: int
    entry: HotlistEntry
    kind: MatchKind
    read: PlateRead
    captured_at: float
    received_at: float  # monotonic, for the hit latency
    plate_patch: bytes | None = None


@dataclass(frozen=True)
class CaptureRecord:
    """One vehicle passing one camera: the vote of the reads of its frames."""

    pass_id: str
    camera_id: str
    text: str
    confidence: float
    plate_format: str | None
    first_seen: float  # camera time (captured_at, else receipt), Unix seconds
    last_seen: float
    frames: int
    best_sequence: int
    direction: Direction
    model_versions: tuple[ModelVersion, ModelVersion]
    stationary: bool = False  # the plate never moved over the pass (not reported unless asked for)
    plate_patch: bytes | None = None
    overview: bytes | None = None
    texts_seen: dict[str, int] = field(default_factory=dict)  # each distinct read and how often
