"""Synthetic passes: short clips of one vehicle crossing a camera's view, with ground truth per pass.

The plate grows as the vehicle comes towards the camera (or shrinks as it drives away) and moves
across the frame; the scene, the car and the camera's conditions stay the same, the noise does not.
One frame can show the plate with one character changed (a look-alike where there is one: O/0, B/8,
S/5 ...), as a misread frame does, so grouping and voting are tested against a known wrong read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anpr_synth.degrade import apply_camera, sample_conditions
from anpr_synth.distractors import draw_background, draw_distractors
from anpr_synth.plate_render import render_plate
from anpr_synth.plate_text import choose_layout, plate_label
from anpr_synth.scene import SyntheticFrame, _labelled, draw_car, plate_height, plate_quad_offsets, warp_plate

LOOKALIKES = {"O": "0", "0": "O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S", "Z": "2", "2": "Z"}
LOOKALIKES |= {"G": "6", "6": "G", "D": "0", "T": "7", "7": "T", "A": "4", "4": "A"}


@dataclass(frozen=True)
class SyntheticPass:
    """One vehicle's frames in time order (0.1 s apart: a 10 frames/s camera) and what they show."""

    text: str
    towards: bool  # the plate grows over the pass
    frames: list[SyntheticFrame]
    misread_frame: int | None  # the frame drawn with `misread_text` instead of `text`
    misread_text: str | None
    layout: str

    FRAME_INTERVAL_S = 0.1


def _misread(display: str, rng: np.random.Generator) -> str:
    """The display text with one letter or digit changed: to its look-alike if it has one."""
    positions = [k for k, c in enumerate(display) if c.isalnum()]
    at = positions[int(rng.integers(len(positions)))]
    original = display[at]
    if original in LOOKALIKES:
        replacement = LOOKALIKES[original]
    else:
        alphabet = "0123456789" if original.isdigit() else "ABCEFHJKMNPRUVWXY"
        replacement = str(rng.choice([c for c in alphabet if c != original]))
    return display[:at] + replacement + display[at + 1 :]


def generate_pass(
    seed: int,
    index: int,
    frame_count: int = 10,
    frame_size: tuple[int, int] = (960, 540),
    misread: bool = True,
) -> SyntheticPass:
    """Pass `index` of the synthetic stream `seed`: same arguments, same pixels."""
    rng = np.random.default_rng([seed, index, 9])
    w, h = frame_size
    conditions = sample_conditions(rng)
    background = draw_background(rng, w, h)
    draw_distractors(background, rng, int(rng.integers(1, 5)))
    layout = choose_layout(rng, rows=1)
    display = layout.text(rng)
    wrong_display = _misread(display, rng)
    render_seed = [seed, index, 10]  # the same draws for both: the same font, colours, dirt
    plate = render_plate(layout, display, np.random.default_rng(render_seed))
    wrong_plate = render_plate(layout, wrong_display, np.random.default_rng(render_seed))
    towards = bool(rng.random() < 0.5)
    near_h = float(rng.uniform(30, 44)) * w / 960
    far_h = near_h * float(rng.uniform(0.45, 0.6))
    far = np.array([w * rng.uniform(0.35, 0.65), h * rng.uniform(0.3, 0.42)])
    near = np.array([far[0] + rng.normal(0, 0.06 * w), h * rng.uniform(0.62, 0.75)])
    shape = plate_quad_offsets(rng, layout.aspect, 1.0)  # the plate's outline for a height of 1
    roll = float(np.arctan2(shape[1, 1] - shape[0, 1], shape[1, 0] - shape[0, 0]))
    car_seed = [seed, index, 12]
    wrong_at = int(rng.integers(frame_count // 3, frame_count)) if misread else None
    frames = []
    for k in range(frame_count):
        progress = k / max(1, frame_count - 1)
        nearness = progress if towards else 1 - progress
        plate_h = far_h * (near_h / far_h) ** nearness
        centre = far + (near - far) * nearness
        image = background.copy()
        draw_car(image, np.random.default_rng(car_seed), centre, plate_h, roll)
        quad = (shape * plate_h + centre).astype(np.float32)
        mask = warp_plate(image, wrong_plate if k == wrong_at else plate, quad)
        grey, jpeg = apply_camera(
            image, np.random.default_rng([seed, index, 11, k]), conditions, mask, plate_height(quad)
        )
        shown = plate_label(wrong_display if k == wrong_at else display)
        frames.append(SyntheticFrame(grey, jpeg, [_labelled(shown, layout.name, quad, mask)]))
    return SyntheticPass(
        plate_label(display),
        towards,
        frames,
        wrong_at,
        plate_label(wrong_display) if misread else None,
        layout.name,
    )
