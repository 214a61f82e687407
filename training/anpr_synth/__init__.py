"""Labelled plate images for training and evaluation, without PyTorch: the synthetic scene generator,
plates composited into real photographs, and the label format they are all written in."""

from anpr_synth.plate_text import PLATE_LAYOUTS, PlateLayout
from anpr_synth.scene import LabelledPlate, SyntheticFrame, generate_frame, generate_plate_crop
from anpr_synth.synthetic_set import write_labelled_set

__all__ = [
    "PLATE_LAYOUTS",
    "LabelledPlate",
    "PlateLayout",
    "SyntheticFrame",
    "generate_frame",
    "generate_plate_crop",
    "write_labelled_set",
]
