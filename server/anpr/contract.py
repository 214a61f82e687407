"""The model contract: what the plate detector and recogniser take and give, in every runtime.

One place for names, shapes, pixel types, the CTC alphabet and how each model is batched and built:
the backends, settings validation, the CLI, ONNX export, the repository renderer and the benchmarks
all read it. A model version that breaks it (another input size, float32 pixels) is refused where it
is loaded, with the reason. Versions differ in their weights, never in this contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CTC_BLANK = 0  # class 0 of the recogniser output; character i of CHARSET is class i + 1
NUM_CLASSES = len(CHARSET) + 1
MAX_PLATE_CHARS = 10  # the longest read the recogniser promises
PIXEL_TYPE = "UINT8"  # both models take uint8 pixels and scale them to [0, 1] inside the graph


@dataclass(frozen=True)
class TensorSpec:
    """One input or output, without the batch dimension. `dtype` uses Triton's names (UINT8, FP32)."""

    name: str
    dims: tuple[int, ...]
    dtype: str

    @property
    def bytes_per_item(self) -> int:
        return math.prod(self.dims) * (1 if self.dtype == "UINT8" else 4)


@dataclass(frozen=True)
class ModelSpec:
    """A plate model as Triton serves it. `plan_precision` is how the TensorRT plan is built."""

    name: str
    role: str  # "detector" or "recogniser": the CLI's and the benchmarks' word for it
    input: TensorSpec
    outputs: tuple[TensorSpec, ...]
    max_batch: int  # the rendered TensorRT configs' max_batch_size
    preferred_batches: tuple[int, ...]
    plan_precision: str  # "tf32" or "fp16"

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.input.dims[-2], self.input.dims[-1]


# 1280x720 letterboxes to 640x360: plates keep >= ~35 px of width. Stride-8 output cells: 48 x 80.
DETECTOR = ModelSpec(
    name="plate_detector",
    role="detector",
    input=TensorSpec("images", (1, 384, 640), PIXEL_TYPE),
    outputs=(TensorSpec("boxes", (3840, 4), "FP32"), TensorSpec("scores", (3840,), "FP32")),
    max_batch=64,
    preferred_batches=(16, 32, 64),
    # FP16 box coordinates (0.5 px steps at 640 px) move the crops: -0.2 to -0.3 points of plate
    # accuracy over three validation sets (`anpr models eval --fp16`); TF32 keeps them.
    plan_precision="tf32",
)
RECOGNISER = ModelSpec(
    name="plate_recogniser",
    role="recogniser",
    input=TensorSpec("crops", (1, 32, 128), PIXEL_TYPE),
    outputs=(TensorSpec("probs", (32, NUM_CLASSES), "FP32"),),  # per column, softmax over blank + CHARSET
    max_batch=256,
    preferred_batches=(64, 128, 256),
    plan_precision="fp16",  # reads exactly what FP32 reads on three validation sets
)
MODELS = (DETECTOR, RECOGNISER)
BY_ROLE = {spec.role: spec for spec in MODELS}

DETECTOR_INPUT_HW = DETECTOR.input_hw
RECOGNISER_INPUT_HW = RECOGNISER.input_hw
CTC_COLUMNS = RECOGNISER.outputs[0].dims[0]


@dataclass(frozen=True, order=True)
class ModelVersion:
    """One version of one model, e.g. plate_detector version 2 (`plate_detector:2` on the wire)."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class FramePipelineSpec:
    """The Triton-side pipeline (`plate_pipeline`): encoded frames in (one JPEG or PNG a batch item,
    BYTES), per frame its plates' boxes (frame pixels), detector scores and recogniser probabilities out,
    padded to the most plates of a request (`plate_count` says how many are real), the plate patches
    when asked for, and why a frame could not be decoded (`error`, empty when it was)."""

    name: str = "plate_pipeline"
    input: str = "frames"
    plate_count: str = "plate_count"
    boxes: str = "boxes"
    scores: str = "scores"
    probs: str = "probs"
    patches: str = "patches"
    error: str = "error"
    max_batch: int = 64


PIPELINE = FramePipelineSpec()
