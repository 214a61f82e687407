"""Labelled plate images for training and evaluation, without PyTorch: the synthetic scene generator,
plates composited into real photographs, and the label format they are all written in.

Importing the package needs only the server's own dependencies (numpy, OpenCV, Pillow); writing sets
with a progress bar (`anpr_synth.synthetic_set`) needs the `tools` extra.
"""

from anpr_synth.plate_text import PLATE_LAYOUTS, PlateLayout
from anpr_synth.scene import LabelledPlate, SyntheticFrame, generate_frame, generate_plate_crop

__all__ = ["PLATE_LAYOUTS", "LabelledPlate", "PlateLayout", "SyntheticFrame", "generate_frame", "generate_plate_crop"]
