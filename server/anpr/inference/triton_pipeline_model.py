"""Triton Python-backend model `plate_pipeline` (CPU): encoded frames in, plates out, in one call.

Stages: decode + grey (+ letterbox: `resample`) with NVIDIA DALI (`DaliLetterbox`, its CPU operators
here) -> the detector -> box decoding and NMS -> plate crops -> the recogniser -> plate patches when
asked for. The two models are called through BLS (Triton's in-process calls to `plate_detector` and
`plate_recogniser` beside this model); box decoding and cropping are the very functions of the
front-end path, so with `resample = "opencv"` (the CPU default) the reads are the front end's, frame
for frame. The front end's pipeline settings (model versions, thresholds) travel as request
parameters; a batch mixes requests freely.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np

from anpr.contract import CTC_COLUMNS, DETECTOR, NUM_CLASSES, PIPELINE, RECOGNISER, ModelSpec
from anpr.domain import InvalidFrame
from anpr.inference.backend import PipelineRequest
from anpr.inference.pipeline import PipelineSettings
from anpr.vehicles.patches import plate_patch
from anpr.vision.crop import crop_plate
from anpr.vision.dali_letterbox import DaliLetterbox, Prepared
from anpr.vision.detection import Detection, decode_detections


def request_of(parameters: str, defaults: PipelineRequest) -> PipelineRequest:
    """What one request asks for: its parameters (JSON, as the front end sends them) over `defaults`."""
    given = json.loads(parameters or "{}")
    kinds = {field.name: type(getattr(defaults, field.name)) for field in fields(defaults)}
    return replace(defaults, **{name: kind(given[name]) for name, kind in kinds.items() if name in given})


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.max_batch = max(1, int(config.get("max_batch_size", PIPELINE.max_batch)))
        self.detector_batch = int(parameters.get("detector_max_batch", "32"))
        self.recogniser_batch = int(parameters.get("recogniser_max_batch", "128"))
        # The front end's defaults, and the letterbox's resampling when a request does not say.
        self.defaults = replace(PipelineSettings().pipeline_request(), resample=parameters.get("resample", "opencv"))
        self.dali = {
            resample: DaliLetterbox(
                self.max_batch,
                threads=int(parameters.get("dali_threads", "1")),
                device=parameters.get("dali_device", "cpu"),
                resample=resample,  # type: ignore[arg-type]
            )
            for resample in ("opencv", "dali")
        }

    def execute(self, requests: list) -> list:
        import triton_python_backend_utils as pb_utils  # only exists inside Triton's stub

        per_request = []
        for request in requests:
            frames = pb_utils.get_input_tensor_by_name(request, PIPELINE.input).as_numpy().reshape(-1)
            per_request.append(([bytes(frame) for frame in frames], request_of(request.parameters(), self.defaults)))
        # Everything Triton handed over runs as one batch per stage; requests may differ in their settings.
        owners = [settings for frames, settings in per_request for _ in frames]
        prepared = self._prepare([frame for frames, _ in per_request for frame in frames], owners)
        detections = self._detect(prepared, owners, pb_utils)
        probs = self._recognise(prepared, detections, owners, pb_utils)
        responses, start = [], 0
        for request, (frames, _) in zip(requests, per_request):
            end = start + len(frames)
            wants_patches = PIPELINE.patches in request.requested_output_names()
            responses.append(
                self._response(prepared[start:end], detections[start:end], probs[start:end], wants_patches, pb_utils)
            )
            start = end
        return responses

    def _prepare(self, frames: list[bytes], owners: list[PipelineRequest]) -> list:
        """Decoded and letterboxed frames, each with the resampling its request asked for."""
        prepared: list = [None] * len(frames)
        for resample, letterboxer in self.dali.items():
            indices = [k for k, o in enumerate(owners) if o.resample == resample]
            for k, item in zip(indices, letterboxer.prepare([frames[k] for k in indices])):
                prepared[k] = item
        return prepared

    def _infer(self, pb_utils, spec: ModelSpec, version: int, tensor: np.ndarray) -> list[np.ndarray]:  # noqa: ANN001
        """A BLS call to the model beside this one: its outputs, in the contract's order."""
        outputs = [output.name for output in spec.outputs]
        request = pb_utils.InferenceRequest(
            model_name=spec.name,
            model_version=version,
            requested_output_names=outputs,
            inputs=[pb_utils.Tensor(spec.input.name, tensor)],
        )
        response = request.exec()
        if response.has_error():
            raise pb_utils.TritonModelException(f"{spec.name}: {response.error().message()}")
        return [pb_utils.get_output_tensor_by_name(response, output).as_numpy() for output in outputs]

    def _detect(self, prepared: list, owners: list[PipelineRequest], pb_utils) -> list[list[Detection]]:  # noqa: ANN001
        detections: list[list[Detection]] = [[] for _ in prepared]
        by_version: dict[int, list[int]] = {}
        for k, (item, settings) in enumerate(zip(prepared, owners)):
            if isinstance(item, Prepared):
                by_version.setdefault(settings.detector_version, []).append(k)
        for version, indices in by_version.items():
            for chunk_start in range(0, len(indices), self.detector_batch):
                chunk = indices[chunk_start : chunk_start + self.detector_batch]
                images = np.stack([prepared[k].letterboxed for k in chunk])[:, None]
                boxes, scores = self._infer(pb_utils, DETECTOR, version, images)
                for row, k in enumerate(chunk):
                    item, settings = prepared[k], owners[k]
                    detections[k] = decode_detections(
                        boxes[row],
                        scores[row],
                        item.transform,
                        (item.grey.shape[1], item.grey.shape[0]),
                        settings.score_threshold,
                        settings.nms_iou,
                        settings.max_plates,
                    )
        return detections

    def _recognise(
        self,
        prepared: list,
        detections: list[list[Detection]],
        owners: list[PipelineRequest],
        pb_utils,  # noqa: ANN001
    ) -> list[np.ndarray]:
        probs = [np.zeros((len(found), CTC_COLUMNS, NUM_CLASSES), np.float32) for found in detections]
        by_version: dict[int, list[tuple[int, int]]] = {}
        for k, found in enumerate(detections):
            for plate in range(len(found)):
                by_version.setdefault(owners[k].recogniser_version, []).append((k, plate))
        for version, plates in by_version.items():
            for chunk_start in range(0, len(plates), self.recogniser_batch):
                chunk = plates[chunk_start : chunk_start + self.recogniser_batch]
                crops = np.stack([crop_plate(prepared[k].grey, detections[k][p].box) for k, p in chunk])
                (out,) = self._infer(pb_utils, RECOGNISER, version, crops[:, None])
                for row, (k, p) in enumerate(chunk):
                    probs[k][p] = out[row]
        return probs

    def _response(self, prepared, detections, probs, wants_patches: bool, pb_utils):  # noqa: ANN001
        n, most = len(prepared), max([1, *(len(found) for found in detections)])
        count = np.zeros((n, 1), np.int32)
        boxes = np.zeros((n, most, 4), np.float32)
        scores = np.zeros((n, most), np.float32)
        padded = np.zeros((n, most, CTC_COLUMNS, NUM_CLASSES), np.float32)
        patches = np.full((n, most), b"", dtype=object)
        errors = np.full((n, 1), b"", dtype=object)
        for k, (item, found) in enumerate(zip(prepared, detections)):
            if isinstance(item, InvalidFrame):
                errors[k, 0] = f"{item.code.value}:{item}".encode()
                continue
            count[k, 0] = len(found)
            for p, detection in enumerate(found):
                boxes[k, p] = detection.box
                scores[k, p] = detection.score
                if wants_patches:
                    patches[k, p] = plate_patch(item.grey, detection.box)
            padded[k, : len(found)] = probs[k]
        tensors = [
            pb_utils.Tensor(PIPELINE.plate_count, count),
            pb_utils.Tensor(PIPELINE.boxes, boxes),
            pb_utils.Tensor(PIPELINE.scores, scores),
            pb_utils.Tensor(PIPELINE.probs, padded),
            pb_utils.Tensor(PIPELINE.error, errors),
        ]
        if wants_patches:
            tensors.append(pb_utils.Tensor(PIPELINE.patches, patches))
        return pb_utils.InferenceResponse(output_tensors=tensors)
