"""The plate models in ONNX Runtime, in-process: small sites, evaluation, benchmarks and tests."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

from anpr.contract import DETECTOR, RECOGNISER, ModelSpec, ModelVersion
from anpr.inference.backend import BackendUnavailable
from anpr.inference.pipeline import PipelineSettings

ONNX_TYPES = {"UINT8": "tensor(uint8)", "FP32": "tensor(float)"}


class ModelFileError(RuntimeError):
    """A model file is missing, is not a model ONNX Runtime can load, or breaks the model contract."""


def _half_precision(path: Path) -> bytes:
    """The model with its weights and activations in float16 (inputs and outputs kept), as a TensorRT
    FP16 plan stores them: what `anpr models eval --fp16` scores. Needs the `onnx` package."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as error:
        raise ModelFileError(f"float16 models need the `onnx` package (the `train` extra): {error}") from error
    return convert_float_to_float16(onnx.load(str(path)), keep_io_types=True).SerializeToString()


def check_contract(session: ort.InferenceSession, spec: ModelSpec, path: Path) -> None:
    """Raises ModelFileError naming what differs when a loaded model breaks `spec`."""
    (model_input,) = session.get_inputs()
    if model_input.type != ONNX_TYPES[spec.input.dtype]:
        raise ModelFileError(
            f"{path} takes {model_input.type}, not uint8 pixels: an export older than that "
            "contract; re-export it with `anpr models export`"
        )
    if model_input.name != spec.input.name or tuple(model_input.shape[1:]) != spec.input.dims:
        raise ModelFileError(
            f"{path} takes {model_input.name} {model_input.shape[1:]}, the contract {spec.input.name} "
            f"{list(spec.input.dims)}"
        )
    outputs = session.get_outputs()
    # Exported graphs may leave output sizes symbolic; any size that is stated must be the contract's.
    if [o.name for o in outputs] != [o.name for o in spec.outputs] or any(
        isinstance(size, int) and size != wanted
        for output, contract in zip(outputs, spec.outputs)
        for size, wanted in zip(output.shape[1:], contract.dims)
    ):
        stated = [(o.name, o.shape[1:]) for o in outputs]
        raise ModelFileError(f"{path} gives {stated}, the contract {[(o.name, list(o.dims)) for o in spec.outputs]}")


def open_model(path: Path, spec: ModelSpec, threads: int = 1, fp16: bool = False) -> ort.InferenceSession:
    """An ONNX Runtime session for a plate model; ModelFileError if it is missing, unreadable or breaks
    the model contract."""
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        model = _half_precision(path) if fp16 else str(path)
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except ModelFileError:
        raise
    except Exception as error:  # ORT raises its own untyped exceptions for bad files
        raise ModelFileError(f"cannot load {path}: {error}") from error
    check_contract(session, spec, path)
    return session


class OnnxRuntimeModels:
    """Detector and recogniser sessions, called synchronously; inputs are uint8 batches."""

    def __init__(self, detector_path: Path, recogniser_path: Path, threads: int = 1, fp16: bool = False) -> None:
        self._detector = open_model(detector_path, DETECTOR, threads, fp16)
        self._recogniser = open_model(recogniser_path, RECOGNISER, threads, fp16)

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images: (N, 384, 640) uint8 letterboxed grey -> boxes (N, K, 4), scores (N, K)."""
        names = [o.name for o in DETECTOR.outputs]
        boxes, scores = self._detector.run(names, {DETECTOR.input.name: images[:, None]})
        return boxes, scores

    def recognise(self, crops: np.ndarray) -> np.ndarray:
        """crops: (M, 32, 128) uint8 grey -> per-column class probabilities (M, T, classes)."""
        (probs,) = self._recogniser.run([RECOGNISER.outputs[0].name], {RECOGNISER.input.name: crops[:, None]})
        return probs


class OnnxRuntimeBackend:
    """The ONNX models in-process, run on a small thread pool (ONNX Runtime releases the GIL)."""

    name = "onnxruntime"

    def __init__(self, settings: PipelineSettings, concurrency: int = 2, fp16: bool = False) -> None:
        self._settings = settings
        self._fp16 = fp16
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="onnxruntime")
        self._models: OnnxRuntimeModels | None = None

    async def start(self) -> None:
        s = self._settings
        self._models = await asyncio.get_running_loop().run_in_executor(
            self._executor, OnnxRuntimeModels, s.detector_path, s.recogniser_path, s.onnx_threads, self._fp16
        )

    async def ready(self) -> bool:
        return self._models is not None

    def model_versions(self) -> tuple[ModelVersion, ModelVersion]:
        return self._settings.model_versions()

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._models is None:
            raise BackendUnavailable("ONNX Runtime models are not loaded")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._models.detect, images)

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        if self._models is None:
            raise BackendUnavailable("ONNX Runtime models are not loaded")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._models.recognise, crops)

    async def close(self) -> None:
        self._models = None
        self._executor.shutdown(wait=True, cancel_futures=True)
