"""What a camera id may be. Ids are keys of per-camera queues and stats and are matched against the
authorisation policy's prefixes, so they are short and plain: a hostile id of megabytes, or one
holding control characters, is refused before anything keeps it."""

from __future__ import annotations

import re

from anpr.domain import InvalidFrame, Reason

CAMERA_ID_CHARACTERS = "A-Z a-z 0-9 . _ : / @ -"
_CAMERA_ID = re.compile(r"[A-Za-z0-9._:/@-]+")


def check_camera_id(camera_id: str, max_length: int) -> None:
    """Raises InvalidFrame unless `camera_id` is 1 to `max_length` characters of CAMERA_ID_CHARACTERS."""
    if not camera_id:
        raise InvalidFrame("camera_id is required", Reason.MISSING_CAMERA_ID)
    if len(camera_id) > max_length:
        raise InvalidFrame(f"camera_id is longer than {max_length} characters", Reason.BAD_CAMERA_ID)
    if not _CAMERA_ID.fullmatch(camera_id):
        raise InvalidFrame(f"camera_id may only hold {CAMERA_ID_CHARACTERS}", Reason.BAD_CAMERA_ID)
