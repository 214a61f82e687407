"""GPU throughput of the plate models in PyTorch FP16, over a batch sweep, with CUDA graphs.

One prepared script for a machine with an NVIDIA GPU and PyTorch but no TensorRT (see DEVELOPERS.md
for the lent H100): it times the detector and the recogniser architectures (the weights do not
change the speed, so no checkpoint is needed) at each batch size, eager and CUDA-graph replayed,
and writes JSON (with the GPU model and date) to --out. Bounded: about 2-4 minutes on one GPU.

    python benchmarks/gpu/run_gpu_bench.py --out benchmarks/results/gpu

`--device cpu` runs the same code on the CPU (a quick check, used by the test suite).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from training.models import PlateDetector, PlateRecogniser  # noqa: E402

SHAPES = {"detector": (1, 384, 640), "recogniser": (1, 32, 128)}


def time_model(
    model: torch.nn.Module, shape: tuple[int, ...], batch: int, device: str, iterations: int, use_graph: bool
) -> dict:
    dtype = torch.float16 if device == "cuda" else torch.float32
    x = torch.rand(batch, *shape, device=device, dtype=dtype)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 32, 64, 128, 256])
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args(argv)
    device = args.device
    rows = []
    for name, model in (("detector", PlateDetector()), ("recogniser", PlateRecogniser())):
        model = model.eval().to(device)
        if device == "cuda":
            model = model.half().to(memory_format=torch.channels_last) if name == "detector" else model.half()
            torch.backends.cudnn.benchmark = True
        for batch in args.batch_sizes:
            for use_graph in (False, True) if device == "cuda" else (False,):
                row = time_model(model, SHAPES[name], batch, device, args.iterations, use_graph)
                rows.append({"model": name, **row})
                print(
                    f"{name:<10} batch {batch:>4} graph {use_graph!s:<5} {row['items_per_second']:>10.0f}/s "
                    f"{row['latency_ms']:>8.2f} ms",
                    flush=True,
                )
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "device": device,
        "gpu": gpu,
        "torch": torch.__version__,
        "precision": "fp16" if gpu else "fp32",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
    }
    (args.out / f"gpu_models_{device}.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
