"""The real photographs (`datasets/real`, read by path, never copied): which part of each set trains
and which is held out, by the rule its data card asks for.

- `detector/uc3m-lp` and `recogniser/uc3m-lp-crops` (Spanish): the same vehicle recurs across photos
  and across the dataset's own train/val prefixes, so photos are grouped by shared plate text
  (connected components, texts from the crops, which all carry one) and one group in five is held
  out; a crop goes where its photo goes, so neither model trains on a held-out vehicle.
- `detector/romania-dashcam`: neighbouring frames are near-duplicates, so whole rides are held out.
- `detector/open-images`: distinct photos; one in five held out by a hash of its id.
- `validation/*`: held out entirely; never trained on.

The split is a pure function of the file names and labels, so every tool computes the same one.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

from anpr_synth.labelled_set import LabelledImage, read_labelled_set

HELD_OUT = "held-out"
TRAIN = "train"
HELD_OUT_RIDES = frozenset({"dayride_type1_002", "dayride_type1_003"})
HELD_OUT_ONE_IN = 5
SPLIT_RULES = ("uc3m-lp", "uc3m-lp-crops", "romania-dashcam", "open-images")


class UnknownSplit(ValueError):
    """A folder whose train/held-out rule is not known here."""


def _bucket(key: str) -> bool:
    return zlib.crc32(key.encode()) % HELD_OUT_ONE_IN == 0


def _photo_id(image_name: str) -> str:
    """`train_00001.jpg` and its crops `train_00001_2_AD.jpg` -> `train_00001`."""
    split, number = Path(image_name).stem.split("_")[:2]
    return f"{split}_{number}"


@lru_cache(maxsize=4)
def _uc3m_held_out_photos(crops_dir: Path, detector_dir: Path) -> frozenset[str]:
    """Photo ids held out: groups of photos linked by a shared plate text, one group in five."""
    texts: dict[str, set[str]] = {}
    for folder in (crops_dir, detector_dir):
        if folder.is_dir():
            for image in read_labelled_set(folder):
                texts.setdefault(_photo_id(image.image_path.name), set()).update(
                    p.text for p in image.plates if p.has_text
                )
    parent = {photo: photo for photo in texts}

    def root(photo: str) -> str:
        while parent[photo] != photo:
            parent[photo] = parent[parent[photo]]
            photo = parent[photo]
        return photo

    first_photo_of: dict[str, str] = {}
    for photo, plate_texts in sorted(texts.items()):
        for text in plate_texts:
            other = first_photo_of.setdefault(text, photo)
            parent[root(photo)] = root(other)
    groups: dict[str, list[str]] = {}
    for photo in texts:
        groups.setdefault(root(photo), []).append(photo)
    held = set()
    for members in groups.values():
        if _bucket(min(members)):
            held.update(members)
    return frozenset(held)


def split_of(image_path: Path) -> str:
    """TRAIN or HELD_OUT for an image of a real set, by its folder's rule (module docstring)."""
    folder = image_path.parent
    source = folder.name
    if folder.parent.name == "validation":
        return HELD_OUT
    if source in ("uc3m-lp", "uc3m-lp-crops"):
        root = folder.parent.parent
        held = _uc3m_held_out_photos(
            (root / "recogniser" / "uc3m-lp-crops").resolve(), (root / "detector" / "uc3m-lp").resolve()
        )
        return HELD_OUT if _photo_id(image_path.name) in held else TRAIN
    if source == "romania-dashcam":
        return HELD_OUT if image_path.stem.rsplit("_t", 1)[0] in HELD_OUT_RIDES else TRAIN
    if source == "open-images":
        return HELD_OUT if _bucket(image_path.stem) else TRAIN
    raise UnknownSplit(f"no train/held-out rule for {folder} (known: {', '.join(SPLIT_RULES)}, validation/*)")


def real_set_part(directory: Path, part: str) -> list[LabelledImage]:
    """The labelled images of a real set in `part` (TRAIN or HELD_OUT)."""
    return [image for image in read_labelled_set(directory) if split_of(image.image_path) == part]
