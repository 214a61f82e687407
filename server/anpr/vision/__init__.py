"""Pre- and post-processing shared by training-time evaluation and the server (numpy only)."""

from anpr.vision.crop import RECOGNISER_INPUT_HW, crop_plate
from anpr.vision.ctc import CHARSET, PlateText, decode_ctc, encode_text
from anpr.vision.detection import DETECTOR_INPUT_HW, Detection, decode_detections
from anpr.vision.letterbox import Letterbox, letterbox
from anpr.vision.nms import box_iou, nms
from anpr.vision.plate_formats import (
    PLATE_FORMATS,
    PlateFormat,
    classify_plate_format,
    enabled_formats,
    fit_plate_format,
    normalise_plate_text,
)

__all__ = [
    "CHARSET",
    "DETECTOR_INPUT_HW",
    "RECOGNISER_INPUT_HW",
    "Detection",
    "Letterbox",
    "PLATE_FORMATS",
    "PlateFormat",
    "PlateText",
    "box_iou",
    "classify_plate_format",
    "crop_plate",
    "decode_ctc",
    "decode_detections",
    "enabled_formats",
    "fit_plate_format",
    "encode_text",
    "letterbox",
    "nms",
    "normalise_plate_text",
]
