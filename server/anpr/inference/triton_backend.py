"""The plate models served by Triton, called with `tritonclient.grpc.aio`."""

from __future__ import annotations

import logging

import numpy as np
import tritonclient.grpc.aio as triton
from tritonclient.utils import InferenceServerException

from anpr.config import PipelineSettings
from anpr.inference.backend import BackendUnavailable

log = logging.getLogger(__name__)

DETECTOR = "plate_detector"
RECOGNISER = "plate_recogniser"
# The models take uint8 pixels and scale them inside (a quarter of the bytes of float32 on the wire).
INPUT_TYPE = "TYPE_UINT8"


class TritonBackend:
    """Sends uint8 batches to Triton, split at each model's `max_batch_size` (read when the models
    become ready)."""

    name = "triton"

    def __init__(self, url: str, settings: PipelineSettings, timeout_s: float = 10.0) -> None:
        self.url = url
        self._settings = settings
        self._timeout_s = timeout_s
        self._client: triton.InferenceServerClient | None = None
        self._max_batch = {DETECTOR: 1, RECOGNISER: 1}

    def _versions(self) -> dict[str, str]:
        return {DETECTOR: str(self._settings.detector_version), RECOGNISER: str(self._settings.recogniser_version)}

    async def start(self) -> None:
        self._client = triton.InferenceServerClient(self.url)

    async def ready(self) -> bool:
        """True when Triton answers and both model versions are loaded; reads their batch limits. A model
        that does not take uint8 pixels (an export older than that contract) is never ready."""
        if self._client is None:
            return False
        try:
            if not await self._client.is_server_ready():
                return False
            for model, version in self._versions().items():
                if not await self._client.is_model_ready(model, version):
                    return False
                config = (await self._client.get_model_config(model, version, as_json=True))["config"]
                self._max_batch[model] = max(1, int(config.get("max_batch_size", 1)))
                declared = config["input"][0]["data_type"]
                if declared != INPUT_TYPE:
                    log.error(
                        "%s:%s takes %s, not %s: re-export it (`anpr models export`) and re-render the repository",
                        model,
                        version,
                        declared,
                        INPUT_TYPE,
                    )
                    return False
        except InferenceServerException:
            return False
        return True

    def model_versions(self) -> tuple[str, str]:
        versions = self._versions()
        return f"{DETECTOR}:{versions[DETECTOR]}", f"{RECOGNISER}:{versions[RECOGNISER]}"

    async def _infer(self, model: str, input_name: str, batch: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        if self._client is None:
            raise BackendUnavailable("Triton client is not started")
        version = self._versions()[model]
        results: list[list[np.ndarray]] = [[] for _ in outputs]
        step = self._max_batch[model]
        for start in range(0, len(batch), step):
            chunk = np.ascontiguousarray(batch[start : start + step])
            tensor = triton.InferInput(input_name, list(chunk.shape), "UINT8")
            tensor.set_data_from_numpy(chunk)
            try:
                response = await self._client.infer(
                    model,
                    [tensor],
                    model_version=version,
                    outputs=[triton.InferRequestedOutput(name) for name in outputs],
                    client_timeout=self._timeout_s,
                )
            except InferenceServerException as error:
                raise BackendUnavailable(f"Triton {model}: {error.message()}") from error
            for k, name in enumerate(outputs):
                results[k].append(response.as_numpy(name))
        return [np.concatenate(parts) for parts in results]

    async def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = await self._infer(DETECTOR, "images", images[:, None], ["boxes", "scores"])
        return boxes, scores

    async def recognise(self, crops: np.ndarray) -> np.ndarray:
        (probs,) = await self._infer(RECOGNISER, "crops", crops[:, None], ["probs"])
        return probs

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
