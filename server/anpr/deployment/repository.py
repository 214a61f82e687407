"""`anpr models build --target cpu|tensorrt`: renders a deployable Triton model repository.

The source `model_repository/` (ONNX files, model cards) is the single source of truth. Targets:
- `cpu`: Triton's own ONNX Runtime backend (`platform: "onnxruntime_onnx"`), CPU instance groups; runs
  in the official Triton container with no Python.
- `tensorrt`: `platform: "tensorrt_plan"` configs with GPU instance groups, dynamic batching with
  preferred batch sizes, and warm-up; plus `build_engines.sh`, the exact `trtexec` commands that turn
  each ONNX file into a plan with an optimisation profile covering batch 1..max: the recogniser in
  FP16 (optionally INT8), the detector in FP32 with TF32 (`anpr models eval --fp16` measured FP16 box
  coordinates costing plate accuracy; on an H100 TF32 still outruns the network into a GPU pod).
  Plans are built on the GPU type that runs them (the Kubernetes init container runs the script);
  `--build` runs it here and refuses clearly where TensorRT is not installed.
Both take uint8 pixels, as the ONNX files do (the graphs cast and scale them first; TensorRT takes a
uint8 input that feeds a Cast directly).
`--with-pipeline` also renders `plate_pipeline` (encoded frames in, plates out) from its source
config: on `tensorrt`, one instance a GPU, DALI's mixed decoder (nvJPEG, the hardware JPEG decoder where
there is one) and DALI's resampling, so decoded frames stay on the device until the crops. That model
is a Python-backend model: the Triton image must carry the `anpr` package and DALI for it (the stock
NGC image does not; docs/DESIGN.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from google.protobuf import text_format
from pydantic import BaseModel, Field
from tritonclient.grpc import model_config_pb2

from anpr.contract import DETECTOR, MODELS, PIPELINE, RECOGNISER, ModelSpec
from anpr.inference.onnxruntime_models import open_model


class BuildOptions(BaseModel):
    """How the deployable repository is rendered."""

    model_config = {"extra": "forbid", "frozen": True}

    target: str = Field(pattern="^(cpu|tensorrt)$")
    versions: tuple[int, ...] = Field(
        (1,), min_length=1, description="model versions to serve side by side (a rollout serves old and new)"
    )
    gpu_instances: int = Field(2, ge=1, description="model instances per GPU (overlap copies and compute)")
    cpu_instances: int = Field(1, ge=1)
    max_queue_delay_us: int = Field(500, ge=0)
    int8: bool = False
    calibration_dir: Path | None = None  # frames for INT8 calibration (e.g. `anpr models synth`)
    workspace_mib: int = Field(4096, ge=256)
    pipeline: bool = Field(False, description="also render plate_pipeline (pipeline.preprocessing = triton)")


class TensorRTMissing(RuntimeError):
    """trtexec is not available: build the plans where TensorRT is (the Triton container)."""


def _dims(dims: tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in dims)


def render_config(spec: ModelSpec, options: BuildOptions) -> str:
    """config.pbtxt for one model on the chosen target."""
    if options.target == "tensorrt":
        header = 'platform: "tensorrt_plan"\ndefault_model_filename: "model.plan"'
        instances = f"instance_group [ {{ kind: KIND_GPU, count: {options.gpu_instances} }} ]"
    else:
        header = 'platform: "onnxruntime_onnx"\ndefault_model_filename: "model.onnx"'
        instances = f"instance_group [ {{ kind: KIND_CPU, count: {options.cpu_instances} }} ]"
    outputs = ",\n".join(
        f'  {{ name: "{o.name}", data_type: TYPE_{o.dtype}, dims: [ {_dims(o.dims)} ] }}' for o in spec.outputs
    )
    warmup = "\n".join(
        f'''model_warmup [ {{
  name: "batch_{batch}"
  batch_size: {batch}
  inputs {{
    key: "{spec.input.name}"
    value: {{ data_type: TYPE_{spec.input.dtype}, dims: [ {_dims(spec.input.dims)} ], zero_data: true }}
  }}
}} ]'''
        for batch in (1, spec.max_batch)
    )
    return f'''# Rendered by `anpr models build --target {options.target}` from model_repository/; do not edit.
name: "{spec.name}"
{header}
max_batch_size: {spec.max_batch}
input [
  {{ name: "{spec.input.name}", data_type: TYPE_{spec.input.dtype}, dims: [ {_dims(spec.input.dims)} ] }}
]
output [
{outputs}
]
{instances}
dynamic_batching {{
  preferred_batch_size: [ {_dims(spec.preferred_batches)} ]
  max_queue_delay_microseconds: {options.max_queue_delay_us}
}}
version_policy: {{ specific: {{ versions: [ {_dims(options.versions)} ] }} }}
{warmup}
'''


def render_pipeline_config(source: str, options: BuildOptions) -> str:
    """config.pbtxt of plate_pipeline for the chosen target, from its source (CPU) config: the same
    inputs and outputs; on GPUs one instance a GPU, DALI on the device, batches up to the plans'."""
    config = text_format.Parse(source, model_config_pb2.ModelConfig())
    if options.target == "tensorrt":
        del config.instance_group[:]
        config.instance_group.add(kind=model_config_pb2.ModelInstanceGroup.KIND_GPU, count=1)
        for key, value in (
            ("dali_device", "mixed"),
            ("resample", "dali"),
            ("dali_threads", "4"),
            ("detector_max_batch", str(DETECTOR.max_batch)),
            ("recogniser_max_batch", str(RECOGNISER.max_batch)),
        ):
            config.parameters[key].string_value = value
    header = f"# Rendered by `anpr models build --target {options.target} --with-pipeline`; do not edit.\n"
    return header + text_format.MessageToString(config)


def trtexec_command(spec: ModelSpec, options: BuildOptions, onnx: str, plan: str) -> list[str]:
    """The exact trtexec invocation for one model: FP16 (+INT8) or FP32/TF32, profile over batch 1..max."""
    fp16 = spec.plan_precision == "fp16"
    shape = "x".join(str(d) for d in spec.input.dims)
    opt = spec.preferred_batches[0]
    command = [
        "trtexec",
        f"--onnx={onnx}",
        f"--saveEngine={plan}",
        *(["--fp16"] if fp16 else []),
        f"--minShapes={spec.input.name}:1x{shape}",
        f"--optShapes={spec.input.name}:{opt}x{shape}",
        f"--maxShapes={spec.input.name}:{spec.max_batch}x{shape}",
        f"--memPoolSize=workspace:{options.workspace_mib}M",
    ]
    if options.int8 and fp16:
        command.append("--int8")
        if options.calibration_dir is not None:
            command.append(f"--calib={options.calibration_dir / (spec.name + '.cache')}")
    return command


def render(source: Path, output: Path, options: BuildOptions) -> list[Path]:
    """Writes the repository for `options.target` to `output`; returns the files written."""
    written: list[Path] = []
    script = [
        "#!/usr/bin/env bash",
        "# Builds the TensorRT plans on this GPU (run by the init container).",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
    ]
    for spec in MODELS:
        for version in options.versions:
            onnx_source = source / spec.name / str(version) / "model.onnx"
            if not onnx_source.exists():
                raise FileNotFoundError(f"no ONNX model at {onnx_source}")
            open_model(onnx_source, spec)  # refuses a model that breaks the contract (float32 pixels, shapes)
            version_dir = output / spec.name / str(version)
            version_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(onnx_source, version_dir / "model.onnx")
            written.append(version_dir / "model.onnx")
            if options.target == "tensorrt":
                onnx, plan = f"{spec.name}/{version}/model.onnx", f"{spec.name}/{version}/model.plan"
                script.append(" ".join(trtexec_command(spec, options, onnx, plan)))
        config = output / spec.name / "config.pbtxt"
        config.write_text(render_config(spec, options))
        written.append(config)
        card = source / spec.name / "model_card.md"
        if card.exists():
            shutil.copy2(card, output / spec.name / "model_card.md")
    if options.pipeline:
        written += _render_pipeline(source, output, options)
    if options.target == "tensorrt":
        path = output / "build_engines.sh"
        path.write_text("\n".join(script) + "\n")
        path.chmod(0o755)
        written.append(path)
    return written


def _render_pipeline(source: Path, output: Path, options: BuildOptions) -> list[Path]:
    folder = source / PIPELINE.name
    if not (folder / "config.pbtxt").exists():
        raise FileNotFoundError(f"no {PIPELINE.name} model at {folder}")
    (output / PIPELINE.name / "1").mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / "1" / "model.py", output / PIPELINE.name / "1" / "model.py")
    config = output / PIPELINE.name / "config.pbtxt"
    config.write_text(render_pipeline_config((folder / "config.pbtxt").read_text(), options))
    return [output / PIPELINE.name / "1" / "model.py", config]


def build_engines(output: Path) -> None:
    """Runs build_engines.sh here; refuses clearly without TensorRT."""
    if shutil.which("trtexec") is None:
        raise TensorRTMissing(
            "trtexec (TensorRT) is not installed here: run build_engines.sh in the Triton/TensorRT container "
            "on the GPU that will serve the plans (the Kubernetes init container does this)"
        )
    subprocess.run([str(output / "build_engines.sh")], check=True)
