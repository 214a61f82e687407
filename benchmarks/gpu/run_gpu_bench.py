"""GPU throughput of the plate models in PyTorch FP16, over a batch sweep, with CUDA graphs.

One prepared script for a machine with an NVIDIA GPU and PyTorch but no TensorRT (see DEVELOPERS.md
for the lent H100): it times the detector and the recogniser architectures (the weights do not
change the speed, so no checkpoint is needed) at each batch size, eager and CUDA-graph replayed;
then what feeding the detector costs: host-to-GPU copies of its input as uint8 and as float32 (the
two input types the front end can send), and 1280x720 JPEG decoding on the GPU (nvJPEG through
torchvision, when torchvision is installed) against one CPU core, alone and followed by the detector's
grey + letterbox on the GPU too, and the same through NVIDIA DALI's mixed decoder when DALI is
installed (the Triton-side pipeline's GPU path; the lent machines have none); then the scheduler's
deadline decisions modelled with these batch times (2x load, 100 ms budget: `anpr bench deadlines
--gpu`, where the package is installed). Writes JSON (with the GPU model and
date) and, when matplotlib is there, a PNG to --out. Bounded: about 2-4 minutes on one GPU.

    python benchmarks/gpu/run_gpu_bench.py --out benchmarks/results/gpu
    python benchmarks/gpu/run_gpu_bench.py --plot benchmarks/results/gpu/gpu_models_cuda.json  # PNG only

`--device cpu` runs the same code on the CPU (a quick check, used by the test suite); the copy and
decode parts are then recorded as skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

# Runs from a checkout without installing the package (the GPU machine has no pydantic or grpc): the
# model contract and the PyTorch networks import neither.
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "training"), str(ROOT / "benchmarks")]

from anpr.contract import BY_ROLE  # noqa: E402
from anpr_training.models import PlateDetector, PlateRecogniser  # noqa: E402

SHAPES = {role: spec.input.dims for role, spec in BY_ROLE.items()}
# Each model in the precision its TensorRT plan is built in (the contract's `plan_precision`: the
# detector in FP32 with TF32 convolutions, since in FP16 its box coordinates cost plate accuracy; the
# recogniser in FP16), and the detector in FP16 too, for comparison.
PRECISIONS = {role: tuple(dict.fromkeys(("fp16", spec.plan_precision))) for role, spec in BY_ROLE.items()}
DTYPES = {"fp16": torch.float16, "tf32": torch.float32, "fp32": torch.float32}


def time_model(
    model: torch.nn.Module, shape: tuple[int, ...], batch: int, device: str, iterations: int, use_graph: bool
) -> dict:
    x = torch.rand(batch, *shape, device=device, dtype=next(model.parameters()).dtype)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()
        run = lambda: model(x)  # noqa: E731
        if use_graph:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model(x)
            run = graph.replay
            for _ in range(3):
                run()
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(iterations):
            run()
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
    return {
        "batch_size": batch,
        "cuda_graph": use_graph,
        "items_per_second": batch * iterations / elapsed,
        "latency_ms": elapsed / iterations * 1000,
    }


def time_transfers(batch: int, iterations: int) -> list[dict]:
    """Host (pinned) to GPU copies of a detector batch, uint8 and float32: frames/s and GB/s."""
    rows = []
    for dtype in (torch.uint8, torch.float32):
        host = torch.zeros(batch, *SHAPES["detector"], dtype=dtype).pin_memory()
        host.to("cuda", non_blocking=True)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(iterations):
            host.to("cuda", non_blocking=True)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        rows.append(
            {
                "dtype": str(dtype).removeprefix("torch."),
                "batch_size": batch,
                "frames_per_second": batch * iterations / elapsed,
                "gigabytes_per_second": host.numel() * host.element_size() * iterations / elapsed / 1e9,
            }
        )
    return rows


def time_jpeg_decode(batch: int, iterations: int) -> dict:
    """1280x720 JPEG decode: batched on the GPU (nvJPEG via torchvision) and on one CPU core."""
    try:
        from torchvision.io import decode_jpeg, encode_jpeg
    except ImportError as error:
        return {"skipped": f"torchvision not installed ({error})"}
    generator = torch.Generator().manual_seed(0)
    gradient = torch.linspace(0, 255, 1280).expand(3, 720, 1280)  # smooth picture + noise: a camera-like size
    noise = torch.randint(0, 16, (3, 720, 1280), generator=generator)  # ~100 KB at quality 85, like our frames
    jpeg = encode_jpeg((gradient * 0.8 + noise).clamp(0, 255).to(torch.uint8), quality=85)
    frames = [jpeg] * batch
    decode_jpeg(frames, device="cuda")
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iterations):
        decode_jpeg(frames, device="cuda")
    torch.cuda.synchronize()
    gpu_fps = batch * iterations / (time.perf_counter() - started)
    letterbox_on_gpu(decode_jpeg(frames, device="cuda"))
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iterations):  # what the detector would be fed: decode, grey, letterbox, all on the GPU
        letterbox_on_gpu(decode_jpeg(frames, device="cuda"))
    torch.cuda.synchronize()
    gpu_letterbox_fps = batch * iterations / (time.perf_counter() - started)
    torch.set_num_threads(1)
    started = time.perf_counter()
    for _ in range(max(1, iterations // 4)):
        for frame in frames:
            decode_jpeg(frame)
    cpu_fps = batch * max(1, iterations // 4) / (time.perf_counter() - started)
    return {
        "jpeg_bytes": int(jpeg.numel()),
        "batch_size": batch,
        "gpu_fps": gpu_fps,
        "gpu_decode_grey_letterbox_fps": gpu_letterbox_fps,
        "one_cpu_core_fps": cpu_fps,
    }


def time_dali_letterbox(batch: int, iterations: int) -> dict:
    """1280x720 JPEGs decoded to grey and letterboxed by NVIDIA DALI on the GPU (`device="mixed"`:
    nvJPEG, with the hardware JPEG decoder where the GPU has one), as the Triton-side pipeline
    (`pipeline.triton_resample = "dali"`) does: the same operators as server/anpr/vision/dali_letterbox.py,
    written out here because the GPU machine has none of the server's dependencies."""
    try:
        from nvidia.dali import fn, pipeline_def, types
        from torchvision.io import encode_jpeg
    except ImportError as error:
        return {"skipped": f"DALI or torchvision not installed ({error})"}
    height, width = SHAPES["detector"][-2:]
    scale = min(width / 1280, height / 720)
    new_w, new_h = round(1280 * scale), round(720 * scale)

    @pipeline_def
    def letterboxed():  # type: ignore[no-untyped-def]
        encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1)
        grey = fn.decoders.image(encoded, device="mixed", output_type=types.GRAY, adjust_orientation=False)
        resized = fn.resize(grey, size=[new_h, new_w], interp_type=types.INTERP_CUBIC, antialias=True)
        start = [-((height - new_h) // 2), -((width - new_w) // 2)]
        return fn.slice(resized, start=start, shape=[height, width], axes=[0, 1], out_of_bounds_policy="pad")

    generator = torch.Generator().manual_seed(0)
    gradient = torch.linspace(0, 255, 1280).expand(3, 720, 1280)
    noise = torch.randint(0, 16, (3, 720, 1280), generator=generator)
    jpeg = encode_jpeg((gradient * 0.8 + noise).clamp(0, 255).to(torch.uint8), quality=85).numpy()
    pipe = letterboxed(batch_size=batch, num_threads=4, device_id=0)
    pipe.build()

    def run() -> None:
        pipe.feed_input("encoded", [jpeg] * batch)
        pipe.run()

    run()
    started = time.perf_counter()
    for _ in range(iterations):
        run()
    return {"batch_size": batch, "dali_decode_grey_letterbox_fps": batch * iterations / (time.perf_counter() - started)}


def letterbox_on_gpu(images: list[torch.Tensor]) -> torch.Tensor:
    """(N, 384, 640) uint8 detector input from decoded (3, H, W) frames of one size: grey, scaled, padded."""
    height, width = SHAPES["detector"][1:]
    rgb = torch.stack(images).float()
    grey = (rgb * torch.tensor([0.299, 0.587, 0.114], device=rgb.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    scale = min(height / rgb.shape[2], width / rgb.shape[3])
    size = (round(rgb.shape[2] * scale), round(rgb.shape[3] * scale))
    scaled = torch.nn.functional.interpolate(grey, size=size, mode="bilinear", antialias=True)
    out = torch.full((len(images), 1, height, width), 114, dtype=torch.uint8, device=rgb.device)
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    out[:, :, top : top + size[0], left : left + size[1]] = scaled.round().clamp(0, 255).to(torch.uint8)
    return out[:, 0]


def plot(payload: dict, path: Path) -> bool:
    """Items/s by batch size per model (eager and CUDA graph); False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, model in zip(axes, ("detector", "recogniser")):
        rows = [r for r in payload["results"] if r["model"] == model]
        for precision in sorted({r.get("precision", payload.get("precision")) for r in rows}):
            for graph in (False, True):
                line = [r for r in rows if r["cuda_graph"] == graph and r.get("precision", precision) == precision]
                if line:
                    label = f"{precision}, {'CUDA graph' if graph else 'eager'}"
                    axis.plot([r["batch_size"] for r in line], [r["items_per_second"] for r in line], "o-", label=label)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("batch size")
        axis.set_ylabel("frames/s" if model == "detector" else "plates/s")
        axis.set_title(f"{model}, {payload['gpu'] or payload['device']}")
        axis.legend()
        axis.grid(alpha=0.3)
    figure.suptitle(f"benchmarks/gpu/run_gpu_bench.py, {payload['date']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 32, 64, 128, 256])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--plot", type=Path, help="only draw the PNG of an existing result JSON")
    parser.add_argument(
        "--recogniser-width", type=float, default=1.5, help="channel scale of the recogniser (version 3: 1.5)"
    )
    args = parser.parse_args(argv)
    if args.plot:
        return 0 if plot(json.loads(args.plot.read_text()), args.plot.with_suffix(".png")) else 1
    device = args.device
    rows = []
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    for name, architecture in (("detector", PlateDetector), ("recogniser", PlateRecogniser)):
        for precision in PRECISIONS[name] if device == "cuda" else ("fp32",):
            network = architecture(args.recogniser_width) if name == "recogniser" else architecture()
            model = network.eval().to(device, DTYPES[precision])
            if name == "detector" and device == "cuda":
                model = model.to(memory_format=torch.channels_last)
            for batch in args.batch_sizes:
                for use_graph in (False, True) if device == "cuda" else (False,):
                    row = time_model(model, SHAPES[name], batch, device, args.iterations, use_graph)
                    rows.append({"model": name, "precision": precision, **row})
                    print(
                        f"{name:<10} {precision} batch {batch:>4} graph {use_graph!s:<5} "
                        f"{row['items_per_second']:>10.0f}/s {row['latency_ms']:>8.2f} ms",
                        flush=True,
                    )
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    feeding: dict = {"skipped": "no GPU"}
    if device == "cuda":
        feeding = {}
        for part, measure in (
            ("transfers", lambda: time_transfers(64, 50)),
            ("jpeg_decode", lambda: [time_jpeg_decode(64, 20), time_jpeg_decode(256, 10)]),
            ("dali_letterbox", lambda: [time_dali_letterbox(64, 20), time_dali_letterbox(256, 10)]),
        ):
            try:  # the model sweep above is the essential result: never lose it to these
                feeding[part] = measure()
            except Exception as error:
                feeding[part] = {"skipped": f"{type(error).__name__}: {error}"}
            print(part, feeding[part], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "device": device,
        "gpu": gpu,
        "torch": torch.__version__,
        "precision": "fp16" if gpu else "fp32",  # rows say their own; this is for files before they did
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
        "recogniser_width": args.recogniser_width,
        "feeding": feeding,
    }
    result = args.out / f"gpu_models_{device}.json"
    result.write_text(json.dumps(payload, indent=2) + "\n")
    if not plot(payload, result.with_suffix(".png")):
        print(f"matplotlib not installed: draw the PNG later with --plot {result}", flush=True)
    if gpu:
        model_deadlines(payload, args.out)
    return 0


def model_deadlines(payload: dict, out: Path) -> None:
    """The scheduler's deadline decisions at 2x this GPU's capacity with these batch times and a 100 ms
    budget (`anpr bench deadlines --gpu`); needs the installed package (pydantic), which the lent
    machines lack: then it says how to run it where the package is."""
    command = f"anpr bench deadlines --gpu {out}/gpu_models_cuda.json --budgets 25 50 100 --max-batch 128"
    try:
        from anpr_benchmarks.deadlines import format_table, model_gpu
    except ImportError as error:
        print(f"deadline model skipped ({error}); run: {command}", flush=True)
        return
    print(format_table(model_gpu(payload, None, 1.9, (25.0, 50.0, 100.0), 2.0, 128, 2.0, out=out)), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
