"""ONNX export of the trained models, checked by onnx.checker and against PyTorch outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from anpr.contract import DETECTOR, RECOGNISER, ModelSpec
from anpr.inference.onnxruntime_models import open_model
from anpr_training.models import DetectorForExport, PlateDetector, PlateRecogniser, RecogniserForExport

OPSET = 17


def _export(module: torch.nn.Module, spec: ModelSpec, path: Path) -> None:
    """Exports with the contract's names and a dynamic batch axis; checks the file and the contract."""
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    outputs = [o.name for o in spec.outputs]
    torch.onnx.export(
        module,
        (random_pixels(2, *spec.input.dims),),
        str(path),
        input_names=[spec.input.name],
        output_names=outputs,
        dynamic_axes={spec.input.name: {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    open_model(path, spec)  # the contract: uint8 input, names and shapes


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
    _export(wrapped, DETECTOR, path)
    return parity(wrapped, path, random_pixels(3, *DETECTOR.input.dims))


def export_recogniser(model: PlateRecogniser, path: Path) -> float:
    """Writes the recogniser (input `crops`, output `probs`); returns the parity error."""
    wrapped = RecogniserForExport(model)
    _export(wrapped, RECOGNISER, path)
    # Batch sizes other than the example's (2), including 1: the batch axis must really be dynamic.
    return max(parity(wrapped, path, random_pixels(n, *RECOGNISER.input.dims)) for n in (1, 5))


def export(role: str, model: torch.nn.Module, path: Path) -> float:
    """Exports the detector or recogniser by its contract role; returns the parity error."""
    return (export_detector if role == "detector" else export_recogniser)(model, path)  # type: ignore[arg-type]
