"""`anpr bench models`: accuracy and speed of each model version, per backend, side by side.

For every (detector, recogniser) version pair in the model repository (or the ONNX files given):
accuracy through `anpr models eval` on a labelled set, and throughput and latency per batch size for
each backend available here (ONNX Runtime in-process; Triton, started locally). This is what an ML
engineer runs before promoting a version.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anpr.contract import DETECTOR_INPUT_HW, MODELS, RECOGNISER_INPUT_HW
from anpr.inference.backend import PlateBackend
from anpr.inference.backends import running_backend
from anpr.inference.pipeline import PipelineSettings
from anpr_benchmarks.common import RESULTS, pyplot, save_figure, write_result
from anpr_benchmarks.evaluation.evaluate import evaluate
from anpr_synth.synthetic_set import write_labelled_set

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Candidate:
    name: str  # e.g. "v1"
    repository: Path
    version: int = 1  # the version of both models in `repository`


def repository_versions(repository: Path) -> list[Candidate]:
    """One candidate per version number present for both models."""
    detector, recogniser = (
        {p.name for p in (repository / spec.name).iterdir() if (p / "model.onnx").exists()} for spec in MODELS
    )
    return [Candidate(f"v{v}", repository, int(v)) for v in sorted(detector & recogniser, key=int)]


def candidate_from_files(detector: Path, recogniser: Path, source: Path, workdir: Path) -> Candidate:
    """A throw-away repository holding the given ONNX files as version 1 (configs from `source`)."""
    for model, onnx in (("plate_detector", detector), ("plate_recogniser", recogniser)):
        (workdir / model / "1").mkdir(parents=True)
        shutil.copy(source / model / "config.pbtxt", workdir / model / "config.pbtxt")
        shutil.copy(source / model / "1" / "model.py", workdir / model / "1" / "model.py")
        shutil.copy(onnx, workdir / model / "1" / "model.onnx")
    return Candidate(f"{detector.stem}+{recogniser.stem}", workdir)


async def _time_calls(call, batch: np.ndarray, budget_s: float, min_calls: int = 3) -> list[float]:
    await call(batch)  # warm-up
    times: list[float] = []
    started = time.monotonic()
    while len(times) < min_calls or time.monotonic() - started < budget_s:
        t0 = time.perf_counter()
        await call(batch)
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return times


async def speed(backend: PlateBackend, batch_sizes: tuple[int, ...], budget_s: float) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    points = [(model, n) for model in ("detector", "recogniser") for n in batch_sizes]
    for model, n in tqdm(points, desc=f"speed {backend.name}", unit="point"):
        if model == "detector":
            batch = rng.integers(0, 255, (n, *DETECTOR_INPUT_HW), dtype=np.uint8)
            times = await _time_calls(backend.detect, batch, budget_s)
        else:
            batch = rng.integers(0, 255, (n, *RECOGNISER_INPUT_HW), dtype=np.uint8)
            times = await _time_calls(backend.recognise, batch, budget_s)
        latency = np.array(times)
        rows.append(
            {
                "backend": backend.name,
                "model": model,
                "batch_size": n,
                "calls": len(times),
                "items_per_second": n * len(times) / latency.sum(),
                "latency_ms_p50": float(np.percentile(latency, 50) * 1000),
                "latency_ms_p99": float(np.percentile(latency, 99) * 1000),
            }
        )
    return rows


async def _bench_candidate(
    candidate: Candidate, backends: list[str], labelled: Path, batch_sizes: tuple[int, ...], budget_s: float
) -> dict:
    settings = PipelineSettings(
        model_repository=candidate.repository,
        detector_version=candidate.version,
        recogniser_version=candidate.version,
        onnx_threads=2,
    )
    async with running_backend("onnxruntime", settings) as backend:
        accuracy = (await evaluate(labelled, backend, settings, progress=True)).metrics
    rows: list[dict] = []
    for name in backends:
        async with running_backend(name, settings) as backend:  # type: ignore[arg-type]
            rows += await speed(backend, batch_sizes, budget_s)
    return {"candidate": candidate.name, "accuracy": accuracy, "speed": rows}


def plot(results: list[dict], path: Path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, model, unit in ((axes[0], "detector", "frames/s"), (axes[1], "recogniser", "plates/s")):
        for result in results:
            for backend in sorted({r["backend"] for r in result["speed"]}):
                rows = [r for r in result["speed"] if r["model"] == model and r["backend"] == backend]
                ax.plot(
                    [r["batch_size"] for r in rows],
                    [r["items_per_second"] for r in rows],
                    marker="o",
                    label=f"{result['candidate']} {backend}",
                )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(unit)
        ax.set_title(f"plate_{model} throughput")
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(figure, path)


def run(
    repository: Path,
    labelled: Path | None,
    backends: list[str],
    files: tuple[Path, Path] | None = None,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    budget_s: float = 2.0,
    out: Path = RESULTS,
    name: str = "model_versions",
) -> dict:
    """Runs the benchmark and writes `out/NAME.json` and `out/NAME.png`; returns the results."""
    with tempfile.TemporaryDirectory(prefix="anpr-bench-") as scratch:
        scratch_path = Path(scratch)
        if labelled is None:
            labelled = scratch_path / "labelled"
            write_labelled_set(labelled, count=60, seed=4243)
        if files:
            candidates = [candidate_from_files(files[0], files[1], repository, scratch_path / "candidate")]
        else:
            candidates = repository_versions(repository)
        results = [asyncio.run(_bench_candidate(c, backends, labelled, batch_sizes, budget_s)) for c in candidates]
    payload = {"labelled_set": str(labelled), "backends": backends, "results": results}
    write_result(name, payload, out)
    plot(results, out / f"{name}.png")
    return payload


def format_table(payload: dict) -> str:
    lines = [f"{'candidate':<12} {'recall':>7} {'plate acc':>9} {'char acc':>8}"]
    for result in payload["results"]:
        a = result["accuracy"]
        lines.append(
            f"{result['candidate']:<12} {a['detection_recall']:>7.4f} {a['plate_accuracy']:>9.4f} "
            f"{a['char_accuracy']:>8.4f}"
        )
    lines.append(
        f"\n{'candidate':<12} {'backend':<12} {'model':<10} {'batch':>5} {'items/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for result in payload["results"]:
        for r in result["speed"]:
            lines.append(
                f"{result['candidate']:<12} {r['backend']:<12} {r['model']:<10} {r['batch_size']:>5} "
                f"{r['items_per_second']:>9.1f} {r['latency_ms_p50']:>8.1f} {r['latency_ms_p99']:>8.1f}"
            )
    return "\n".join(lines)
