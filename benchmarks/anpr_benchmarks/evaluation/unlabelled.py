"""Plates in view that a real set leaves unboxed, found by looking (`unlabelled_plates/<set folder>.json`).

Some sets box only some plates (romania-dashcam's data card: plates of parked or distant cars are often
unlabelled), so a detector that finds such a plate is scored a false positive. A supplement lists those
plates; `anpr models eval` then reports `detection_precision_completed` beside `detection_precision`
(which stays against the set's own labels). Recall is not touched: a supplement is made from what
detectors boxed, so it is not a complete list of what they should have found.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SUPPLEMENTS = Path(__file__).with_name("unlabelled_plates")


def unlabelled_plates(directory: Path) -> dict[str, np.ndarray]:
    """Image name -> (K, 4) x1, y1, x2, y2 boxes of unboxed plates, for the set in `directory` (by its
    folder name); empty where no supplement exists."""
    path = SUPPLEMENTS / f"{directory.name}.json"
    if not path.is_file():
        return {}
    boxes = json.loads(path.read_text())["boxes"]
    return {image: np.array(image_boxes, np.float32).reshape(-1, 4) for image, image_boxes in boxes.items()}
