"""The plate models in ONNX Runtime, in-process: small sites, evaluation and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


def unit_scaled(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], the ONNX models' input; the one place this scaling is done."""
    return pixels.astype(np.float32) / 255.0


class ModelFileError(RuntimeError):
    """A model file is missing or is not a model ONNX Runtime can load."""


def _session(path: Path, threads: int) -> ort.InferenceSession:
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own untyped exceptions for bad files
        raise ModelFileError(f"cannot load {path}: {error}") from error


class OnnxRuntimeModels:
    """Detector and recogniser sessions; inputs are uint8 batches, scaling happens here."""

    def __init__(self, detector_path: Path, recogniser_path: Path, threads: int = 1) -> None:
        self._detector = _session(detector_path, threads)
        self._recogniser = _session(recogniser_path, threads)

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images: (N, 384, 640) uint8 letterboxed grey -> boxes (N, K, 4), scores (N, K)."""
        boxes, scores = self._detector.run(["boxes", "scores"], {"images": unit_scaled(images)[:, None]})
        return boxes, scores

    def recognise(self, crops: np.ndarray) -> np.ndarray:
        """crops: (M, 32, 128) uint8 grey -> per-column class probabilities (M, T, classes)."""
        (probs,) = self._recogniser.run(["probs"], {"crops": unit_scaled(crops)[:, None]})
        return probs
