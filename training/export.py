"""ONNX export of the trained models, checked by onnx.checker and against PyTorch outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from anpr.vision.crop import RECOGNISER_INPUT_HW
from anpr.vision.detection import DETECTOR_INPUT_HW
from anpr_training.models import DetectorForExport, PlateDetector, PlateRecogniser, RecogniserForExport

OPSET = 17


def _export(
    module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str, output_names: list[str]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=[input_name],
        output_names=output_names,
        dynamic_axes={input_name: {0: "batch"}, **{name: {0: "batch"} for name in output_names}},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def random_pixels(*shape: int) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8)


def parity(module: torch.nn.Module, path: Path, inputs: torch.Tensor) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime outputs on `inputs` (uint8)."""
    module.eval()
    with torch.no_grad():
        expected = module(inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    return max(float(np.abs(e.numpy() - a).max()) for e, a in zip(expected, actual))


def export_detector(model: PlateDetector, path: Path) -> float:
    """Writes the detector (input `images`, outputs `boxes`, `scores`); returns the parity error."""
    wrapped = DetectorForExport(model)
    _export(wrapped, random_pixels(2, 1, *DETECTOR_INPUT_HW), path, "images", ["boxes", "scores"])
    return parity(wrapped, path, random_pixels(3, 1, *DETECTOR_INPUT_HW))


def export_recogniser(model: PlateRecogniser, path: Path) -> float:
    """Writes the recogniser (input `crops`, output `probs`); returns the parity error."""
    wrapped = RecogniserForExport(model)
    _export(wrapped, random_pixels(2, 1, *RECOGNISER_INPUT_HW), path, "crops", ["probs"])
    # Batch sizes other than the example's (2), including 1: the batch axis must really be dynamic.
    return max(parity(wrapped, path, random_pixels(n, 1, *RECOGNISER_INPUT_HW)) for n in (1, 5))
