"""Deterministic synthetic ANPR camera frames with exact plate labels."""

from anpr_training.synth.labelled_set import write_labelled_set
from anpr_training.synth.plate_text import PLATE_LAYOUTS, PlateLayout
from anpr_training.synth.scene import LabelledPlate, SyntheticFrame, generate_frame, generate_plate_crop

__all__ = [
    "PLATE_LAYOUTS",
    "LabelledPlate",
    "PlateLayout",
    "SyntheticFrame",
    "generate_frame",
    "generate_plate_crop",
    "write_labelled_set",
]
