"""The real sets' train/held-out rule, on stand-in folders laid out as `datasets/real` is."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from anpr_synth.labelled_set import format_label_line
from anpr_synth.real_sets import HELD_OUT, HELD_OUT_RIDES, TRAIN, UnknownSplit, real_set_part, split_of


def write_image(folder: Path, name: str, lines: list[tuple[tuple[int, int, int, int] | None, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    cv2.imwrite(str(path), np.full((40, 60), 128, np.uint8))
    path.with_suffix(".txt").write_text("".join(format_label_line(name, box, text) + "\n" for box, text in lines))
    return path


def test_photos_sharing_a_plate_text_land_on_the_same_side_with_their_crops(tmp_path: Path) -> None:
    photos, crops = tmp_path / "detector" / "uc3m-lp", tmp_path / "recogniser" / "uc3m-lp-crops"
    texts = [f"{k:04d}?B?" for k in range(60)]
    for k, text in enumerate(texts):
        # Photo k shows plate k and plate k+1: every photo is linked to the next through a shared text,
        # except where the chain is cut every tenth photo.
        shown = [text] + ([texts[k + 1]] if k + 1 < len(texts) and k % 10 != 9 else [])
        write_image(photos, f"train_{k:05d}.jpg", [((1, 1, 10, 5), t) for t in shown])
        for j, t in enumerate(shown, start=1):
            write_image(crops, f"train_{k:05d}_{j}_AD.jpg", [((0, 0, 60, 40), t)])
    sides = [split_of(photos / f"train_{k:05d}.jpg") for k in range(60)]
    for start in range(0, 60, 10):  # six chains of ten linked photos: each wholly on one side
        assert len(set(sides[start : start + 10])) == 1
    assert HELD_OUT in sides and TRAIN in sides  # with six groups, one in five held out: some of each
    for k in range(60):
        for crop in crops.glob(f"train_{k:05d}_*.jpg"):
            assert split_of(crop) == sides[k]  # a crop goes where its photo goes


def test_dashcam_frames_are_held_out_by_ride_and_validation_sets_whole(tmp_path: Path) -> None:
    dashcam = tmp_path / "detector" / "romania-dashcam"
    held_ride = sorted(HELD_OUT_RIDES)[0]
    held = write_image(dashcam, f"{held_ride}_t12.jpg", [((1, 1, 10, 5), "")])
    kept = write_image(dashcam, "dayride_type1_001_t12.jpg", [((1, 1, 10, 5), "")])
    assert split_of(held) == HELD_OUT and split_of(kept) == TRAIN
    assert [image.image_path for image in real_set_part(dashcam, TRAIN)] == [kept]
    assert split_of(write_image(tmp_path / "validation" / "croatia-phone", "AB123CD.jpg", [(None, "AB123CD")])) == (
        HELD_OUT
    )
    with pytest.raises(UnknownSplit):
        split_of(write_image(tmp_path / "somewhere", "a.jpg", [(None, "AB1")]))
