"""Writes synthetic frames as a labelled image set (`anpr models synth`)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from anpr_synth.labelled_set import format_label_line
from anpr_synth.scene import generate_frame


def write_labelled_set(directory: Path, count: int, seed: int, progress: bool = True) -> int:
    """Writes `count` frames of stream `seed` as NAME.jpg + NAME.txt; returns the plates written."""
    directory.mkdir(parents=True, exist_ok=True)
    plates = 0
    for index in tqdm(range(count), desc=f"synth seed={seed}", unit="frame", disable=not progress):
        frame = generate_frame(seed, index)
        name = f"frame_{seed}_{index:06d}.jpg"
        (directory / name).write_bytes(frame.jpeg)
        lines = [format_label_line(name, plate.box, plate.text) for plate in frame.plates]
        (directory / name).with_suffix(".txt").write_text("".join(line + "\n" for line in lines))
        plates += len(frame.plates)
    return plates
