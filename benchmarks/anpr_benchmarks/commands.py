"""Evaluation, benchmarks, the demo and sizing, registered with the `anpr` CLI (entry point
`anpr.commands`): `anpr models eval`, `anpr bench models|accuracy|feeds|hotlist|overhead`, `anpr demo`,
`anpr plan`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from anpr.cli import DEFAULT_MODEL_REPOSITORY, CommandGroups

DEFAULT_RESULTS = Path("benchmarks") / "results"  # relative to the working directory


def _models_eval(args: argparse.Namespace) -> int:
    from anpr.config import load_settings
    from anpr.inference.backend import PlateBackend
    from anpr.inference.backends import running_backend
    from anpr.inference.onnxruntime_models import ModelFileError, OnnxRuntimeBackend
    from anpr_benchmarks.evaluation.errors import format_confusions, write_errors
    from anpr_benchmarks.evaluation.evaluate import EvaluationReport, evaluate, format_report
    from anpr_synth.real_sets import UnknownSplit

    settings = load_settings().pipeline
    updates = {
        key: value
        for key, value in (
            ("model_repository", args.model_repository),
            ("detector_version", args.detector_version),
            ("recogniser_version", args.recogniser_version),
            ("preprocessing", args.preprocessing),
        )
        if value is not None
    }
    settings = settings.model_copy(update=updates)
    if not args.directory.is_dir():
        print(f"error: {args.directory} is not a folder", file=sys.stderr)
        return 2

    async def scored(backend: PlateBackend) -> EvaluationReport:
        return await evaluate(
            args.directory,
            backend,
            settings,
            batch_size=args.batch_size,
            progress=not args.quiet,
            split=args.split,
            min_plate_width=args.min_plate_width,
        )

    async def run() -> EvaluationReport:
        if settings.preprocessing == "triton":  # the whole pipeline in a local Triton, as it serves
            async with running_backend("triton", settings) as served:
                return await scored(served)
        backend = OnnxRuntimeBackend(settings, fp16=args.fp16)
        await backend.start()
        try:
            return await scored(backend)
        finally:
            await backend.close()

    try:
        report = asyncio.run(run())
    except (ModelFileError, UnknownSplit) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    print(f"commonest character confusions: {format_confusions(report.tally)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {**report.metrics, "versions": [str(v) for v in settings.model_versions()], "split": args.split}
        args.json.write_text(json.dumps({**payload, "skipped": report.skipped}, indent=2) + "\n")
    if args.errors:
        errors = write_errors(args.directory, report.tally, args.errors)
        print(f"wrote {len(errors)} errors to {args.errors}: errors.json, worst_errors.png, confusions.csv")
    if report.metrics["frames"] == 0:
        print("error: no labelled image could be evaluated", file=sys.stderr)
        return 2
    return 0


def _bench_accuracy(args: argparse.Namespace) -> int:
    from anpr_benchmarks.accuracy import format_table, run

    payload = run(
        args.sets,
        args.versions,
        args.model_repository,
        args.out,
        args.name,
        args.min_plate_width,
        tuple(args.placements),
    )
    print(format_table(payload))
    print(f"wrote {args.out / args.name}.json, .png and {args.name}_errors/")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from anpr_benchmarks.demo import run_demo

    return asyncio.run(run_demo(args.cameras, args.fps, args.seconds, args.backend, args.rows))


def _bench_models(args: argparse.Namespace) -> int:
    from anpr_benchmarks.model_versions import format_table, run

    files = (args.detector, args.recogniser) if args.detector and args.recogniser else None
    if bool(args.detector) != bool(args.recogniser):
        print("error: give both --detector and --recogniser, or neither", file=sys.stderr)
        return 2
    payload = run(
        args.model_repository,
        args.labelled,
        args.backend or ["onnxruntime", "triton"],
        files,
        tuple(args.batch_sizes),
        args.budget_s,
        args.out,
        args.name,
    )
    print(format_table(payload))
    print(f"wrote {args.out / args.name}.json and .png")
    return 0


def _bench_feeds(args: argparse.Namespace) -> int:
    from anpr_benchmarks.feeds import format_table, run

    payload = run(
        args.cameras,
        args.seconds,
        args.backend,
        tuple(args.loads),
        args.workers,
        args.out,
        args.name,
        capacity_fps=args.capacity,
        streams=args.streams,
    )
    print(format_table(payload))
    print(f"wrote {args.out / args.name}.json and .png")
    return 0


def _bench_deadlines(args: argparse.Namespace) -> int:
    import json

    from anpr_benchmarks.deadlines import format_table, model_gpu, run

    budgets = tuple(args.budgets)
    if args.gpu:
        detector = json.loads(args.gpu_detector.read_text()) if args.gpu_detector else None
        name = args.name or "deadlines_gpu_model"
        payload = model_gpu(
            json.loads(args.gpu.read_text()),
            detector,
            args.plates_per_frame,
            budgets,
            args.load,
            args.max_batch,
            args.overhead_ms,
            args.cameras or 1150,
            args.seconds,
            args.out,
            name,
        )
    else:
        name = args.name or "deadlines"
        payload = run(
            args.cameras or 64,
            args.seconds,
            args.backend,
            args.load,
            budgets,
            args.repeats,
            args.workers,
            args.out,
            name,
        )
    print(format_table(payload))
    print(f"wrote {args.out / name}.json and .png")
    return 0


def _bench_video(args: argparse.Namespace) -> int:
    from anpr_benchmarks.video_decode import format_table, run

    payload = run(args.frames, args.out, args.name)
    print(format_table(payload))
    print(f"wrote {args.out / args.name}.json and .png")
    return 0


def _bench_hotlist(args: argparse.Namespace) -> int:
    from anpr_benchmarks.hotlist import format_table, run

    payload = run(
        args.backend,
        args.cameras,
        args.seconds,
        args.workers,
        args.capacity,
        args.out,
        args.name,
        not args.matching_only,
    )
    print(format_table(payload))
    print(f"wrote {args.out / args.name}.json and .png")
    return 0


def _bench_overhead(args: argparse.Namespace) -> int:
    from anpr_benchmarks.overhead import format_table, run

    payload = run(
        args.backend, args.batch_size, args.seconds, args.cameras, args.out, args.name, gpu_batch_ms=args.gpu_batch_ms
    )
    print(format_table(payload))
    print(f"wrote {args.out / args.name}.json and .png")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from anpr_benchmarks.sizing import TRITON_POD_GBIT, measure, plan, plot_simulation, simulate

    measured = measure(args.results)
    result = plan(args.cameras, args.fps, measured, args.wire, args.triton_pod_gbit or TRITON_POD_GBIT)
    print(f"{args.cameras} cameras x {args.fps:g} frames/s = {result['frames_per_second']:.0f} frames/s")
    print(f"ingest bandwidth: {result['ingest_gbit_per_s']:.2f} Gbit/s ({result['frame_kib']:.0f} KiB a frame)")
    built = "as built" if args.wire == "uint8" else "what float32 inputs would cost"
    print(f"front ends decode, Triton gets {args.wire} pixels ({built}):")
    print(f"  front-end pods: {result['frontend_pods']}")
    print(f"  GPUs: {result['gpus'] if result['gpus'] is not None else 'not derivable from measurements yet'}")
    print(
        f"  front ends -> Triton: {result['triton_in_gbit_per_s']:.1f} Gbit/s, back: "
        f"{result['triton_out_gbit_per_s']:.1f} Gbit/s"
    )
    if result["gpu_decode"]:
        alternative = result["gpu_decode"]
        print("JPEG bytes forwarded and decoded in Triton (pipeline.preprocessing = triton; GPU rendering not built):")
        print(f"  front-end pods: {alternative['frontend_pods']}")
        print(f"  GPUs: {alternative['gpus']}")
        print(f"  front ends -> Triton: {alternative['triton_in_gbit_per_s']:.1f} Gbit/s (the JPEGs)")
    for note in result["notes"]:
        print(f"  - {note}")
    for name, source in result["sources"].items():
        print(f"  source {name}: {source}")
    if args.simulate:
        pod_fps = args.pod_fps or result["triton_pod_fps"]
        if not pod_fps:
            print(
                "error: no measured GPU throughput to simulate with; give --pod-fps (frames/s a Triton pod "
                "serves) and say where it came from",
                file=sys.stderr,
            )
            return 2
        sim = simulate(result["frames_per_second"], pod_fps)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "plan_simulation.json").write_text(
            json.dumps(
                {
                    "plan": result,
                    "simulation": {
                        k: v for k, v in sim.items() if k not in ("t_minutes", "offered_fps", "ready_pods", "pods")
                    },
                },
                indent=2,
            )
        )
        plot_simulation(sim, args.out / "plan_simulation.png")
        print(
            f"one simulated day at {pod_fps:.0f} frames/s a pod: {sim['frames_dropped']:.0f} of "
            f"{sim['frames_offered']:.0f} frames dropped, {sim['gpu_hours']:.0f} pod-hours, peak {max(sim['pods'])} "
            f"pods; wrote {args.out / 'plan_simulation.json'} and .png"
        )
    return 0


def register(groups: CommandGroups) -> None:
    evaluation = groups.models.add_parser("eval", help="score the ONNX models on a labelled image set")
    evaluation.add_argument("directory", type=Path)
    evaluation.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    evaluation.add_argument("--errors", type=Path, help="write every error (JSON, contact sheet PNG, confusions) here")
    evaluation.add_argument("--model-repository", type=Path)
    evaluation.add_argument("--detector-version", type=int)
    evaluation.add_argument("--recogniser-version", type=int)
    evaluation.add_argument(
        "--split", choices=["train", "held-out"], help="only this part of a real set (its data card's rule)"
    )
    evaluation.add_argument(
        "--min-plate-width", type=float, default=0.0, help="labelled boxes narrower than this (px) count nowhere"
    )
    evaluation.add_argument("--batch-size", type=int, default=8)
    evaluation.add_argument(
        "--preprocessing",
        choices=["front_end", "triton"],
        help="triton: encoded files through a local Triton's plate_pipeline (DALI), as the server would send them",
    )
    evaluation.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluation.add_argument(
        "--fp16", action="store_true", help="models in float16, as TensorRT FP16 plans run them (needs `onnx`)"
    )
    evaluation.set_defaults(handler=_models_eval)

    demo = groups.top.add_parser("demo", help="a local server fed synthetic camera feeds; prints reads, throughput")
    demo.add_argument("--cameras", type=int, default=8)
    demo.add_argument("--fps", type=float, default=2.0, help="frames per second per camera")
    demo.add_argument("--seconds", type=float, default=20.0)
    demo.add_argument("--backend", choices=["triton", "onnxruntime"], default="triton")
    demo.add_argument("--rows", type=int, default=25, help="reads to print")
    demo.set_defaults(handler=_demo)

    plan = groups.top.add_parser("plan", help="size a deployment from the latest benchmark results")
    plan.add_argument("--cameras", type=int, default=2300)
    plan.add_argument("--fps", type=float, default=10.0, help="frames per second per camera at peak")
    plan.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    plan.add_argument("--simulate", action="store_true", help="replay a day of traffic through the HPA")
    plan.add_argument("--pod-fps", type=float, help="frames/s per Triton pod (default: derived from measurements)")
    plan.add_argument("--wire", choices=["uint8", "float32"], default="uint8", help="pixel type sent to Triton")
    plan.add_argument("--triton-pod-gbit", type=float, help="Gbit/s a one-GPU Triton pod can use (assumed; default 50)")
    plan.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    plan.set_defaults(handler=_plan)

    bench_models = groups.bench.add_parser("models", help="accuracy and speed per model version and backend")
    bench_models.add_argument("--model-repository", type=Path, default=DEFAULT_MODEL_REPOSITORY)
    bench_models.add_argument("--detector", type=Path, help="an ONNX file to compare instead of the repository")
    bench_models.add_argument("--recogniser", type=Path)
    bench_models.add_argument("--labelled", type=Path, help="labelled set (default: 60 fresh synthetic frames)")
    bench_models.add_argument("--backend", action="append", choices=["onnxruntime", "triton"])
    bench_models.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    bench_models.add_argument("--budget-s", type=float, default=2.0, help="seconds per measured point")
    bench_models.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    bench_models.add_argument("--name", default="model_versions")
    bench_models.set_defaults(handler=_bench_models)

    accuracy = groups.bench.add_parser("accuracy", help="every model version on every labelled set, side by side")
    accuracy.add_argument("sets", type=Path, nargs="+", help="labelled set folders (real sets: held-out part)")
    accuracy.add_argument("--versions", type=int, nargs="+", default=[1, 2])
    accuracy.add_argument("--model-repository", type=Path, default=DEFAULT_MODEL_REPOSITORY)
    accuracy.add_argument("--min-plate-width", type=float, default=0.0, help="narrower labelled plates count nowhere")
    accuracy.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    accuracy.add_argument(
        "--placements",
        nargs="+",
        choices=["front_end", "triton", "triton_dali"],
        default=["front_end"],
        help="where frames are pre-processed: here, and/or in a local Triton's plate_pipeline (DALI decode; "
        "triton_dali: DALI's letterbox resampling too)",
    )
    accuracy.add_argument("--name", default="accuracy")
    accuracy.set_defaults(handler=_bench_accuracy)

    feeds = groups.bench.add_parser("feeds", help="simulated cameras over gRPC at, below and above capacity")
    feeds.add_argument("--cameras", type=int, default=64, help="simulated camera feeds (up to 2,300)")
    feeds.add_argument("--seconds", type=float, default=20.0, help="duration of each load")
    feeds.add_argument("--loads", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="multiples of capacity")
    feeds.add_argument("--backend", choices=["triton", "onnxruntime", "null"], default="triton")
    feeds.add_argument("--workers", type=int, default=2, help="client processes")
    feeds.add_argument("--capacity", type=float, help="frames/s to take as capacity instead of measuring it")
    feeds.add_argument("--streams", type=int, help="gRPC streams in all, cameras shared out (default: one a worker)")
    feeds.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    feeds.add_argument("--name", default="feeds")
    feeds.set_defaults(handler=_bench_feeds)

    deadlines = groups.bench.add_parser(
        "deadlines", help="latency budgets at an overload, side by side; or modelled with a GPU's batch times (--gpu)"
    )
    deadlines.add_argument("--budgets", type=float, nargs="+", default=[150, 300, 600, 1000], help="milliseconds")
    deadlines.add_argument("--load", type=float, default=2.0, help="multiple of the measured capacity")
    deadlines.add_argument("--cameras", type=int, help="feeds (64; --gpu: 1,150, one GPU's share of 2,300)")
    deadlines.add_argument("--seconds", type=float, default=20.0, help="duration of each run")
    deadlines.add_argument("--repeats", type=int, default=2, help="rounds over the budgets, in alternating order")
    deadlines.add_argument("--backend", choices=["triton", "onnxruntime"], default="triton")
    deadlines.add_argument("--workers", type=int, default=2, help="client processes")
    deadlines.add_argument("--gpu", type=Path, help="model instead: run_gpu_bench.py results (gpu_models_cuda.json)")
    deadlines.add_argument("--gpu-detector", type=Path, help="--gpu: the detector's TF32 results (detector_tf32.json)")
    deadlines.add_argument("--plates-per-frame", type=float, default=1.9, help="--gpu: recogniser plates a frame")
    deadlines.add_argument("--max-batch", type=int, default=32, help="--gpu: the scheduler's max_batch (k8s: 32)")
    deadlines.add_argument("--overhead-ms", type=float, default=2.0, help="--gpu: per batch, beyond the models")
    deadlines.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    deadlines.add_argument("--name", help="result file name (deadlines, or deadlines_gpu_model with --gpu)")
    deadlines.set_defaults(handler=_bench_deadlines)

    video = groups.bench.add_parser("video", help="WHIP video: 720p H.264 and VP8 decoded per CPU-second (aiortc)")
    video.add_argument("--frames", type=int, default=300, help="frames of synthetic plate video per codec")
    video.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    video.add_argument("--name", default="video_decode")
    video.set_defaults(handler=_bench_video)

    hotlist = groups.bench.add_parser("hotlist", help="hotlist matching per CPU-second; hit latency at 1x load")
    hotlist.add_argument("--backend", choices=["triton", "onnxruntime"], default="onnxruntime")
    hotlist.add_argument("--cameras", type=int, default=32)
    hotlist.add_argument("--seconds", type=float, default=20.0)
    hotlist.add_argument("--workers", type=int, default=2, help="client processes")
    hotlist.add_argument("--capacity", type=float, help="frames/s to take as capacity instead of measuring it")
    hotlist.add_argument("--matching-only", action="store_true", help="only the matching rate (no server)")
    hotlist.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    hotlist.add_argument("--name", default="hotlist")
    hotlist.set_defaults(handler=_bench_hotlist)

    overhead = groups.bench.add_parser("overhead", help="full server vs bare backend; null-model front-end cost")
    overhead.add_argument("--backend", choices=["triton", "onnxruntime"], default="onnxruntime")
    overhead.add_argument("--batch-size", type=int, default=16)
    overhead.add_argument("--seconds", type=float, default=15.0)
    overhead.add_argument("--cameras", type=int, default=32)
    overhead.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    overhead.add_argument("--name", default="overhead")
    overhead.add_argument(
        "--gpu-batch-ms",
        type=float,
        default=7.0,
        help="also measure the message shapes with a null model that takes this long a call (spending no CPU), "
        "as a GPU takes for a batch (H100: 7 ms for 128 frames); 0: not",
    )
    overhead.set_defaults(handler=_bench_overhead)
