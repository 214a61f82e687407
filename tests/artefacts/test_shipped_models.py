"""The shipped models: valid ONNX with a dynamic batch that keep the model contract, in every version."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from anpr.contract import MODELS, ModelSpec
from anpr.inference.onnxruntime_models import OnnxRuntimeModels, open_model
from tests.repo import ROOT

VERSIONS = [
    (spec, path.parent.name)
    for spec in MODELS
    for path in sorted((ROOT / "model_repository" / spec.name).glob("*/model.onnx"))
]


@pytest.mark.parametrize(("spec", "version"), VERSIONS, ids=[f"{s.name}:{v}" for s, v in VERSIONS])
def test_shipped_models_are_valid_opset_17_with_a_dynamic_batch(spec: ModelSpec, version: str) -> None:
    path = ROOT / "model_repository" / spec.name / version / "model.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in model.graph.input] == [spec.input.name]
    assert [o.name for o in model.graph.output] == [o.name for o in spec.outputs]
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    open_model(path, spec)  # the whole contract: uint8 pixels, names, sizes
    assert (path.parents[1] / "model_card.md").exists()


@pytest.mark.parametrize("version", sorted({v for _, v in VERSIONS}))
def test_shipped_models_run_on_any_batch_size(version: str) -> None:
    detector, recogniser = (ROOT / "model_repository" / spec.name / version / "model.onnx" for spec in MODELS)
    models = OnnxRuntimeModels(detector, recogniser)
    for n in (1, 3):
        boxes, scores = models.detect(np.zeros((n, 384, 640), np.uint8))
        assert boxes.shape[0] == scores.shape[0] == n and boxes.shape[2] == 4
        probs = models.recognise(np.zeros((n, 32, 128), np.uint8))
        assert probs.shape[:2] == (n, 32) and np.allclose(probs.sum(-1), 1, atol=1e-4)


def test_every_model_has_the_same_versions() -> None:
    detector, recogniser = ({v for s, v in VERSIONS if s is spec} for spec in MODELS)
    assert detector == recogniser and detector, "a version must exist for both models (a rollout ships pairs)"


@pytest.mark.parametrize(("spec", "version"), VERSIONS, ids=[f"{s.name}:{v}" for s, v in VERSIONS])
def test_every_version_has_the_python_backend_entry_point(spec: ModelSpec, version: str) -> None:
    """The local Triton loads each version folder through its model.py: without one that version never
    becomes ready, and neither does the server."""
    entry = ROOT / "model_repository" / spec.name / version / "model.py"
    assert "from anpr.inference.triton_python_model import TritonPythonModel" in entry.read_text()
