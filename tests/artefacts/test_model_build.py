"""`anpr models build`: rendered Triton configs are valid ModelConfig messages with the right settings."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from anpr.cli import main
from anpr.contract import MODELS
from anpr.deployment.repository import BuildOptions, render_config, trtexec_command
from tests.repo import ROOT


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("spec", MODELS, ids=[spec.name for spec in MODELS])
def test_source_cpu_configs_are_valid_and_keep_the_model_contract(spec, model_repository: Path) -> None:
    config = parse((model_repository / spec.name / "config.pbtxt").read_text())
    assert config.name == spec.name and config.backend == "python" and config.max_batch_size > 0
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert config.HasField("dynamic_batching")
    dtype = model_config_pb2.DataType.Name
    assert [(i.name, dtype(i.data_type), list(i.dims)) for i in config.input] == [
        (spec.input.name, f"TYPE_{spec.input.dtype}", list(spec.input.dims))
    ]
    assert [(o.name, dtype(o.data_type), list(o.dims)) for o in config.output] == [
        (o.name, f"TYPE_{o.dtype}", list(o.dims)) for o in spec.outputs
    ]


def test_tensorrt_configs_use_plans_on_gpus_with_batching_and_warmup() -> None:
    options = BuildOptions(target="tensorrt", gpu_instances=3)
    for spec in MODELS:
        config = parse(render_config(spec, options))
        assert config.platform == "tensorrt_plan" and config.default_model_filename == "model.plan"
        assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
        assert config.instance_group[0].count == 3
        assert list(config.dynamic_batching.preferred_batch_size) == list(spec.preferred_batches)
        assert max(spec.preferred_batches) == config.max_batch_size == spec.max_batch
        assert [w.batch_size for w in config.model_warmup] == [1, spec.max_batch]
        assert list(config.version_policy.specific.versions) == [1]
        uint8 = model_config_pb2.DataType.TYPE_UINT8  # what the ONNX graphs and the front end take
        assert config.input[0].data_type == uint8
        assert all(w.inputs[spec.input.name].data_type == uint8 for w in config.model_warmup)


def test_cpu_target_uses_tritons_onnxruntime_backend() -> None:
    config = parse(render_config(MODELS[0], BuildOptions(target="cpu", cpu_instances=2)))
    assert config.platform == "onnxruntime_onnx" and config.default_model_filename == "model.onnx"
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert [w.batch_size for w in config.model_warmup] == [1, MODELS[0].max_batch]


def test_trtexec_commands_cover_batch_one_to_max_with_the_detector_out_of_fp16() -> None:
    detector, recogniser = MODELS
    command = trtexec_command(detector, BuildOptions(target="tensorrt"), "d.onnx", "d.plan")
    assert command[:3] == ["trtexec", "--onnx=d.onnx", "--saveEngine=d.plan"]
    assert "--minShapes=images:1x1x384x640" in command and "--maxShapes=images:64x1x384x640" in command
    assert "--fp16" not in command and "--int8" not in command  # FP16 boxes cost plate accuracy
    int8 = BuildOptions(target="tensorrt", int8=True, calibration_dir=Path("/c"))
    assert "--int8" not in trtexec_command(detector, int8, "d", "p")
    reduced = trtexec_command(recogniser, int8, "r", "p")
    assert "--fp16" in reduced and "--int8" in reduced and "--calib=/c/plate_recogniser.cache" in reduced
    assert "--fp16" in trtexec_command(recogniser, BuildOptions(target="tensorrt"), "r", "p")


def test_build_renders_the_repository_and_refuses_to_build_plans_without_tensorrt(tmp_path: Path, capsys) -> None:
    assert main(["models", "build", "--target", "tensorrt", "--output", str(tmp_path / "trt")]) == 0
    script = (tmp_path / "trt" / "build_engines.sh").read_text()
    assert script.count("trtexec ") == 2
    for spec in MODELS:
        assert (tmp_path / "trt" / spec.name / "1" / "model.onnx").exists()
        assert (tmp_path / "trt" / spec.name / "model_card.md").exists()
    assert main(["models", "build", "--target", "tensorrt", "--output", str(tmp_path / "x"), "--build"]) == 2
    assert "TensorRT" in capsys.readouterr().err


def test_the_pipeline_renders_for_gpus_with_the_mixed_decoder_and_for_the_cpu_as_it_is(tmp_path: Path) -> None:
    from anpr.contract import PIPELINE

    source = parse((ROOT / "model_repository" / PIPELINE.name / "config.pbtxt").read_text())
    assert main(["models", "build", "--target", "tensorrt", "--output", str(tmp_path / "trt"), "--with-pipeline"]) == 0
    assert (tmp_path / "trt" / PIPELINE.name / "1" / "model.py").exists()
    gpu = parse((tmp_path / "trt" / PIPELINE.name / "config.pbtxt").read_text())
    assert gpu.backend == "python" and gpu.max_batch_size == source.max_batch_size == PIPELINE.max_batch
    assert [(i.name, i.data_type, list(i.dims)) for i in gpu.input] == [
        (PIPELINE.input, model_config_pb2.TYPE_STRING, [1])
    ]
    assert [o.name for o in gpu.output] == [o.name for o in source.output]
    assert gpu.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    parameters = {key: value.string_value for key, value in gpu.parameters.items()}
    assert parameters["dali_device"] == "mixed" and parameters["resample"] == "dali"
    assert int(parameters["detector_max_batch"]) == MODELS[0].max_batch
    assert main(["models", "build", "--target", "cpu", "--output", str(tmp_path / "cpu"), "--with-pipeline"]) == 0
    cpu = parse((tmp_path / "cpu" / PIPELINE.name / "config.pbtxt").read_text())
    assert cpu.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert {key: value.string_value for key, value in cpu.parameters.items()}["dali_device"] == "cpu"
    assert not (tmp_path / "trt_plain").exists()
    assert main(["models", "build", "--target", "tensorrt", "--output", str(tmp_path / "trt_plain")]) == 0
    assert not (tmp_path / "trt_plain" / PIPELINE.name).exists()  # only when asked for


def _two_version_source(model_repository: Path, tmp_path: Path) -> Path:
    """The shipped models as version 1, and a copy with other metadata as version 2."""
    onnx = pytest.importorskip("onnx")  # the `train` extra; `make test` installs it
    source = tmp_path / "source"
    for spec in MODELS:
        for version in (1, 2):
            (source / spec.name / str(version)).mkdir(parents=True)
            model = onnx.load(str(model_repository / spec.name / "1" / "model.onnx"))
            model.doc_string = f"{spec.name} version {version}"
            onnx.save(model, str(source / spec.name / str(version) / "model.onnx"))
    return source


def test_a_rollout_repository_serves_the_old_and_new_versions_side_by_side(
    model_repository: Path, tmp_path: Path, capsys
) -> None:
    source = _two_version_source(model_repository, tmp_path)
    output = tmp_path / "trt"
    args = ["models", "build", "--target", "tensorrt", "--versions", "1", "2"]
    assert main([*args, "--model-repository", str(source), "--output", str(output)]) == 0
    for spec in MODELS:
        config = parse((output / spec.name / "config.pbtxt").read_text())
        assert list(config.version_policy.specific.versions) == [1, 2]
        rendered = (output / spec.name / "2" / "model.onnx").read_bytes()
        assert rendered == (source / spec.name / "2" / "model.onnx").read_bytes()
    script = (output / "build_engines.sh").read_text()
    assert script.count("trtexec ") == 4 and "plate_recogniser/2/model.plan" in script
    assert main([*args, "3", "--model-repository", str(source), "--output", str(tmp_path / "missing")]) == 2
    assert "plate_detector/3/model.onnx" in capsys.readouterr().err


def test_build_refuses_a_model_that_does_not_take_uint8_pixels(model_repository: Path, tmp_path: Path, capsys) -> None:
    source = _two_version_source(model_repository, tmp_path)
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(source / "plate_recogniser" / "2" / "model.onnx"))
    model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT  # an older float32 export
    onnx.save(model, str(source / "plate_recogniser" / "2" / "model.onnx"))
    args = ["models", "build", "--target", "tensorrt", "--versions", "1", "2", "--model-repository", str(source)]
    assert main([*args, "--output", str(tmp_path / "trt")]) == 2
    assert "plate_recogniser/2/model.onnx takes tensor(float), not uint8 pixels" in capsys.readouterr().err


def _dockerfile_render_command(target: str, versions: str) -> list[str]:
    """The `anpr models build` step of the model-repository image, with its build args filled in."""
    dockerfile = (ROOT / "deploy" / "images" / "model-repository.Dockerfile").read_text()
    instructions = dockerfile.replace("\\\n", " ").splitlines()
    run = next(line for line in instructions if line.startswith("RUN ") and "anpr models build" in line)
    step = next(part for part in run.split("&&") if "anpr models build" in part)
    return shlex.split(step.replace('"$TARGET"', target).replace("$VERSIONS", versions))


@pytest.mark.parametrize("target", ["cpu", "tensorrt"])
def test_the_model_repository_image_renders_from_an_installed_wheel(
    target: str, installed_wheel: Path, tmp_path: Path
) -> None:
    """What `docker build -f deploy/images/model-repository.Dockerfile` runs, without docker: a non-editable
    install of the package, run from the build context, must find everything it renders."""
    command = _dockerfile_render_command(target, "1")
    assert command[:3] == ["anpr", "models", "build"]
    output = Path(command[command.index("--output") + 1])
    command[command.index("--output") + 1] = str(tmp_path / output.relative_to("/"))
    context = tmp_path / "context"
    shutil.copytree(ROOT / "model_repository", context / "model_repository")
    env = {**os.environ, "PYTHONPATH": str(installed_wheel)}
    subprocess.run([sys.executable, "-m", "anpr.cli", *command[1:]], cwd=context, env=env, check=True, timeout=120)
    rendered = tmp_path / output.relative_to("/")
    for spec in MODELS:
        config = parse((rendered / spec.name / "config.pbtxt").read_text())
        assert (rendered / spec.name / "1" / "model.onnx").is_file()
        assert config.platform == ("tensorrt_plan" if target == "tensorrt" else "onnxruntime_onnx")
    assert (rendered / "build_engines.sh").is_file() == (target == "tensorrt")
