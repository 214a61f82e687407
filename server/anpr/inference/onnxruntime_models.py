"""The plate models in ONNX Runtime, in-process: small sites, evaluation and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


class ModelFileError(RuntimeError):
    """A model file is missing or is not a model ONNX Runtime can load."""


def _half_precision(path: Path) -> bytes:
    """The model with its weights and activations in float16 (inputs and outputs kept), as a TensorRT
    FP16 plan stores them: what `anpr models eval --fp16` scores. Needs the `onnx` package."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as error:
        raise ModelFileError(f"float16 models need the `onnx` package (the `train` extra): {error}") from error
    return convert_float_to_float16(onnx.load(str(path)), keep_io_types=True).SerializeToString()


def open_model(path: Path, threads: int = 1, fp16: bool = False) -> ort.InferenceSession:
    """An ONNX Runtime session for a plate model; ModelFileError if it is missing, unreadable or does
    not take uint8 pixels."""
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        model = _half_precision(path) if fp16 else str(path)
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own untyped exceptions for bad files
        raise ModelFileError(f"cannot load {path}: {error}") from error
    if session.get_inputs()[0].type != "tensor(uint8)":
        raise ModelFileError(
            f"{path} takes {session.get_inputs()[0].type}, not uint8 pixels: an export older than that "
            "contract; re-export it with `anpr models export`"
        )
    return session


class OnnxRuntimeModels:
    """Detector and recogniser sessions; inputs are uint8 batches (the models scale them)."""

    def __init__(self, detector_path: Path, recogniser_path: Path, threads: int = 1, fp16: bool = False) -> None:
        self._detector = open_model(detector_path, threads, fp16)
        self._recogniser = open_model(recogniser_path, threads, fp16)

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images: (N, 384, 640) uint8 letterboxed grey -> boxes (N, K, 4), scores (N, K)."""
        boxes, scores = self._detector.run(["boxes", "scores"], {"images": images[:, None]})
        return boxes, scores

    def recognise(self, crops: np.ndarray) -> np.ndarray:
        """crops: (M, 32, 128) uint8 grey -> per-column class probabilities (M, T, classes)."""
        (probs,) = self._recogniser.run(["probs"], {"crops": crops[:, None]})
        return probs
