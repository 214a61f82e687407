"""What travels through the server: frames in, one outcome per frame out.

Every accepted frame gets exactly one `FrameOutcome`: PROCESSED with its plate reads, or a status
that says why not, with a fixed `Reason` code (a metric label) and a sentence for the sender. The
API layer turns these into anpr.v1 messages; nothing below it knows the generated code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class FrameStatus(enum.Enum):
    """The answer's kind; values equal anpr.v1.FrameStatus numbers (a test keeps them so)."""

    PROCESSED = 1
    DROPPED_STALE = 2
    DROPPED_OVERLOAD = 3
    INVALID = 4
    FAILED = 5

    @property
    def dropped(self) -> bool:
        return self in (FrameStatus.DROPPED_STALE, FrameStatus.DROPPED_OVERLOAD)


class Reason(enum.StrEnum):
    """Why a frame was not processed: a short fixed code, safe as a metric label."""

    SUPERSEDED = "superseded"
    TOO_OLD = "too_old"
    DEADLINE = "deadline"
    OVERLOAD = "overload"
    SHUTDOWN = "shutdown"
    CANCELLED = "cancelled"
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TOO_SMALL = "too_small"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT = "corrupt"
    WRONG_RAW_SIZE = "wrong_raw_size"
    MISSING_CAMERA_ID = "missing_camera_id"
    BAD_CAMERA_ID = "bad_camera_id"
    NO_IMAGE = "no_image"
    INFERENCE_FAILED = "inference_failed"


class InvalidFrame(ValueError):
    """A frame that cannot be used; the message is the reason sent back, `code` its fixed code."""

    def __init__(self, message: str, code: Reason) -> None:
        super().__init__(message)
        self.code = code


class PixelFormat(enum.Enum):
    GRAY8 = 1
    RGB8 = 3  # the value is the number of channels


@dataclass(frozen=True)
class RawPixels:
    """Unencoded pixels with an explicit shape: rows tightly packed, top row first."""

    pixels: bytes
    width: int
    height: int
    format: PixelFormat | None  # None: a format the server does not know


FrameImage = bytes | RawPixels  # JPEG/PNG file bytes, or raw pixels


@dataclass(frozen=True)
class PlateRead:
    """One plate read in one frame. `text` is personal data: never log it above DEBUG."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    detection_score: float
    plate_format: str | None  # e.g. "GB"; None when no configured format matches


@dataclass(frozen=True)
class FrameOutcome:
    """The one answer a frame gets."""

    status: FrameStatus
    reason: str = ""  # a sentence for the sender; empty when PROCESSED
    code: Reason | None = None  # fixed code of the reason; None when PROCESSED
    reads: list[PlateRead] = field(default_factory=list)
    queue_ms: float = 0.0
    decode_ms: float = 0.0
    inference_ms: float = 0.0
