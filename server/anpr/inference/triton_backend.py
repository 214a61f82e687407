"""The plate models served by Triton, called with `tritonclient.grpc.aio`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import tritonclient.grpc.aio as triton
from tritonclient.utils import InferenceServerException

from anpr.contract import DETECTOR, MODELS, PIPELINE, RECOGNISER, ModelSpec, ModelVersion
from anpr.domain import InvalidFrame, Reason
from anpr.inference.backend import BackendUnavailable, FramePlates, PipelineRequest
from anpr.inference.pipeline import PipelineSettings
from anpr.vision.detection import Detection

log = logging.getLogger(__name__)
REASON_CODES = frozenset(member.value for member in Reason)  # what a pipeline error may name


def contract_mismatch(spec: ModelSpec, config: dict) -> str | None:
    """What a served model's config (Triton's JSON) declares against the contract, or None if it keeps it."""
    inputs = [(i["name"], i["data_type"], [int(d) for d in i["dims"]]) for i in config["input"]]
    expected = [(spec.input.name, f"TYPE_{spec.input.dtype}", list(spec.input.dims))]
    if inputs != expected:
        declared = ", ".join(f"{name} {kind} {dims}" for name, kind, dims in inputs)
        wanted = ", ".join(f"{name} {kind} {dims}" for name, kind, dims in expected)
        return f"takes {declared}, not {wanted}"
    return None


class TritonBackend:
    """Sends uint8 batches to Triton, split at each model's `max_batch_size` (read when the models
    become ready)."""

    name = "triton"

    def __init__(
        self,
        url: str,
        settings: PipelineSettings,
        timeout_s: float = 10.0,
        ready_timeout_s: float = 1.0,
        client_arguments: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self._settings = settings
        self._timeout_s = timeout_s
        self._ready_timeout_s = ready_timeout_s
        self._client_arguments = client_arguments or {}
        self._client: triton.InferenceServerClient | None = None
        self._max_batch = {spec.name: 1 for spec in MODELS}

    async def start(self) -> None:
        self._client = triton.InferenceServerClient(self.url, **self._client_arguments)

    async def ready(self) -> bool:
        """True when Triton answers and both model versions are loaded; reads their batch limits. A model
        whose config breaks the contract (float32 pixels: an export older than it) is never ready.
        Every call has a deadline: a frozen Triton (SIGSTOP, a hung node) is not ready, not a hang."""
        if self._client is None:
            return False
        deadline = self._ready_timeout_s
        try:
            if not await self._client.is_server_ready(client_timeout=deadline):
                return False
            for spec in MODELS:
                version = str(self._settings.version(spec))
                if not await self._client.is_model_ready(spec.name, version, client_timeout=deadline):
                    return False
                config = (
                    await self._client.get_model_config(spec.name, version, as_json=True, client_timeout=deadline)
                )["config"]
                self._max_batch[spec.name] = max(1, int(config.get("max_batch_size", 1)))
                mismatch = contract_mismatch(spec, config)
                if mismatch:
                    log.error("%s:%s %s: re-export it and re-render the repository", spec.name, version, mismatch)
                    return False
            if self._settings.preprocessing == "triton":
                if not await self._client.is_model_ready(PIPELINE.name, client_timeout=deadline):
                    return False
                config = (await self._client.get_model_config(PIPELINE.name, as_json=True, client_timeout=deadline))[
                    "config"
                ]
                self._max_batch[PIPELINE.name] = max(1, int(config.get("max_batch_size", 1)))
        except InferenceServerException:
            return False
        return True

    def model_versions(self) -> tuple[ModelVersion, ModelVersion]:
        return self._settings.model_versions()

    async def _infer(self, spec: ModelSpec, batch: np.ndarray) -> list[np.ndarray]:
        if self._client is None:
            raise BackendUnavailable("Triton client is not started")
        version = str(self._settings.version(spec))
        outputs = [o.name for o in spec.outputs]
        results: list[list[np.ndarray]] = [[] for _ in outputs]
        step = self._max_batch[spec.name]
        for start in range(0, len(batch), step):
            chunk = np.ascontiguousarray(batch[start : start + step])
            tensor = triton.InferInput(spec.input.name, list(chunk.shape), spec.input.dtype)
            tensor.set_data_from_numpy(chunk)
            try:
                response = await self._client.infer(
                    spec.name,
                    [tensor],
                    model_version=version,
                    outputs=[triton.InferRequestedOutput(name) for name in outputs],
                    client_timeout=self._timeout_s,
                )
            except InferenceServerException as error:
                raise BackendUnavailable(f"Triton {spec.name}: {error.message()}") from error
            for k, name in enumerate(outputs):
                results[k].append(response.as_numpy(name))
        return [np.concatenate(parts) for parts in results]

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = await self._infer(DETECTOR, images[:, None])
        return boxes, scores

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        (probs,) = await self._infer(RECOGNISER, crops[:, None])
        return probs

    async def read_encoded(self, frames: Sequence[bytes], request: PipelineRequest) -> list[FramePlates]:
        """Encoded frames to Triton's plate_pipeline: one call per `max_batch_size` of them."""
        if self._client is None:
            raise BackendUnavailable("Triton client is not started")
        outputs = [PIPELINE.plate_count, PIPELINE.boxes, PIPELINE.scores, PIPELINE.probs, PIPELINE.error]
        if request.with_patches:
            outputs.append(PIPELINE.patches)
        parameters = {k: v for k, v in asdict(request).items() if k != "with_patches"}
        step = self._max_batch.get(PIPELINE.name, PIPELINE.max_batch)
        results: list[FramePlates] = []
        for start in range(0, len(frames), step):
            chunk = np.array([[frame] for frame in frames[start : start + step]], dtype=np.object_)
            tensor = triton.InferInput(PIPELINE.input, list(chunk.shape), "BYTES")
            tensor.set_data_from_numpy(chunk)
            try:
                response = await self._client.infer(
                    PIPELINE.name,
                    [tensor],
                    outputs=[triton.InferRequestedOutput(name) for name in outputs],
                    client_timeout=self._timeout_s,
                    parameters=parameters,
                )
            except InferenceServerException as error:
                raise BackendUnavailable(f"Triton {PIPELINE.name}: {error.message()}") from error
            results.extend(_frame_plates(response, request.with_patches))
        return results

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _frame_plates(response: Any, with_patches: bool) -> list[FramePlates]:
    """The plate_pipeline's padded outputs, one FramePlates a frame."""
    counts = response.as_numpy(PIPELINE.plate_count)[:, 0]
    boxes, scores = response.as_numpy(PIPELINE.boxes), response.as_numpy(PIPELINE.scores)
    probs, errors = response.as_numpy(PIPELINE.probs), response.as_numpy(PIPELINE.error)[:, 0]
    patches = response.as_numpy(PIPELINE.patches) if with_patches else None
    frames = []
    for k, count in enumerate(counts):
        if errors[k]:
            code, _, reason = bytes(errors[k]).decode(errors="replace").partition(":")
            known = code in REASON_CODES
            invalid = InvalidFrame(reason if known else f"{code}:{reason}", Reason(code) if known else Reason.CORRUPT)
            frames.append(FramePlates([], probs[k, :0], invalid=invalid))
            continue
        found = [
            Detection((float(x1), float(y1), float(x2), float(y2)), float(score))
            for (x1, y1, x2, y2), score in zip(boxes[k, :count], scores[k, :count])
        ]
        kept = tuple(bytes(p) for p in patches[k, :count]) if patches is not None else ()
        frames.append(FramePlates(found, probs[k, :count], kept))
    return frames
