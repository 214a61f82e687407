"""Triton Python-backend model that runs an ONNX file with ONNX Runtime (the CPU path).

Each model folder's `1/model.py` imports this class. It runs inside Triton's backend stub, whose
interpreter is the `python3` first on PATH: `anpr serve` puts this virtualenv there, so numpy 1.26
and onnxruntime come from it (numpy 2 makes this Triton build return empty outputs).
All requests Triton hands over at once are run as one ONNX Runtime batch. Inputs are uint8 pixels
(a quarter of the bytes of float32 through gRPC and shared memory); the ONNX graph scales them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        threads = int(config.get("parameters", {}).get("intra_op_threads", {}).get("string_value", "1"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = config["input"][0]["name"]
        self.output_names = [output["name"] for output in config["output"]]

    def execute(self, requests: list) -> list:
        import triton_python_backend_utils as pb_utils  # only exists inside Triton's stub

        arrays = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        batch = np.concatenate(arrays)
        outputs = self.session.run(self.output_names, {self.input_name: batch})
        responses, start = [], 0
        for array in arrays:
            end = start + len(array)
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(out[start:end]))
                for name, out in zip(self.output_names, outputs)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = end
        return responses
