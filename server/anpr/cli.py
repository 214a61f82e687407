"""The `anpr` command line: model training, export, evaluation and synthetic data."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from anpr.config import SOURCE_MODEL_REPOSITORY, load_settings

BENCHMARK_RESULTS = SOURCE_MODEL_REPOSITORY.parent / "benchmarks" / "results"
MODEL_FOLDERS = {"detector": "plate_detector", "recogniser": "plate_recogniser"}


def _models_synth(args: argparse.Namespace) -> int:
    from anpr_training.synth import write_labelled_set

    plates = write_labelled_set(args.directory, args.count, args.seed)
    print(f"wrote {args.count} frames with {plates} plates to {args.directory}")
    return 0


def _models_eval(args: argparse.Namespace) -> int:
    from anpr.evaluation.evaluate import evaluate, format_report
    from anpr.inference.onnxruntime_models import ModelFileError, OnnxRuntimeModels

    settings = load_settings().pipeline
    if args.model_repository:
        settings = settings.model_copy(update={"model_repository": args.model_repository})
    if not args.directory.is_dir():
        print(f"error: {args.directory} is not a folder", file=sys.stderr)
        return 2
    try:
        models = OnnxRuntimeModels(settings.detector_path, settings.recogniser_path, settings.onnx_threads, args.fp16)
    except ModelFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = evaluate(args.directory, models, settings, batch_size=args.batch_size, progress=not args.quiet)
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**report.metrics, "skipped": report.skipped}, indent=2) + "\n")
    if report.metrics["frames"] == 0:
        print("error: no labelled image could be evaluated", file=sys.stderr)
        return 2
    return 0


def _export(model_name: str, model: object, output: Path) -> None:
    from anpr_training.export import export_detector, export_recogniser

    error = (export_detector if model_name == "detector" else export_recogniser)(model, output)
    print(f"exported {model_name} to {output} (ONNX Runtime vs PyTorch max abs difference {error:.2e})")


def _models_train(args: argparse.Namespace) -> int:
    from anpr_training.trainer import RECIPES, TrainingRun, train

    recipe = dict(RECIPES[args.model])
    for key in ("steps", "batch_size", "samples", "learning_rate"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    run = TrainingRun(
        args.model,
        args.run_dir or Path("runs") / args.model,
        seed=args.seed,
        workers=args.workers,
        threads=args.threads,
        stop_after=args.stop_after,
        init_from=args.init_from,
        device=args.device,
        **recipe,
    )
    model = train(run)
    if run.stop_after is not None and run.stop_after < run.steps:
        print(f"stopped after step {run.stop_after} of {run.steps}; run the same command again to resume")
    elif not args.no_export:
        _export(
            args.model, model, args.output or SOURCE_MODEL_REPOSITORY / MODEL_FOLDERS[args.model] / "1" / "model.onnx"
        )
    return 0


def _models_export(args: argparse.Namespace) -> int:
    from anpr_training.checkpoints import load_checkpoint
    from anpr_training.models import PlateDetector, PlateRecogniser

    model = PlateDetector() if args.model == "detector" else PlateRecogniser()
    checkpoint = (args.run_dir or Path("runs") / args.model) / "checkpoint.pt"
    if not load_checkpoint(checkpoint, model):
        print(f"error: no checkpoint at {checkpoint}", file=sys.stderr)
        return 2
    _export(
        args.model,
        model.eval(),
        args.output or SOURCE_MODEL_REPOSITORY / MODEL_FOLDERS[args.model] / "1" / "model.onnx",
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from anpr.inference.onnxruntime_models import ModelFileError
    from anpr.inference.triton_process import TritonNotInstalled
    from anpr.server import serve

    try:
        settings = load_settings(
            args.config,
            host=args.host,
            port=args.port,
            metrics_port=args.metrics_port,
            backend=args.backend,
            triton_url=args.triton_url,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings))
    except (TritonNotInstalled, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _stats(args: argparse.Namespace) -> int:
    import grpc

    from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc

    with grpc.insecure_channel(args.address) as channel:
        try:
            stats = anpr_pb2_grpc.PlateRecognitionStub(channel).GetStats(
                anpr_pb2.GetStatsRequest(camera_ids=args.camera), timeout=10
            )
        except grpc.RpcError as error:
            print(f"error: {args.address}: {error.code().name} {error.details()}", file=sys.stderr)
            return 2
    print(f"queued {stats.queued_frames}, in flight {stats.frames_in_flight}, streams {stats.active_streams}")
    print(
        f"{'camera':<24} {'received':>9} {'processed':>9} {'dropped':>8} {'invalid':>8} {'failed':>7} "
        f"{'age_s':>7} {'queued':>6} {'lag_ms':>7}"
    )
    for c in sorted(stats.cameras, key=lambda c: -c.last_frame_age_s):
        print(
            f"{c.camera_id:<24} {c.received:>9} {c.processed:>9} {c.dropped:>8} {c.invalid:>8} {c.failed:>7} "
            f"{c.last_frame_age_s:>7.1f} {c.queued:>6} {c.last_latency_ms:>7.0f}"
        )
    return 0


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


def _bench_overhead(args: argparse.Namespace) -> int:
    from anpr_benchmarks.overhead import format_table, run

    payload = run(args.backend, args.batch_size, args.seconds, args.cameras, args.out, args.name)
    print(format_table(payload))
    print(f"wrote {args.out / args.name}.json and .png")
    return 0


def _models_build(args: argparse.Namespace) -> int:
    from anpr.deployment.repository import BuildOptions, TensorRTMissing, build_engines, render
    from anpr.inference.onnxruntime_models import ModelFileError

    options = BuildOptions(
        target=args.target, versions=tuple(args.versions), int8=args.int8, calibration_dir=args.calibration_dir
    )
    try:
        written = render(args.model_repository, args.output, options)
    except (FileNotFoundError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    if args.build and args.target == "tensorrt":
        try:
            build_engines(args.output)
        except TensorRTMissing as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return 0


def _plan(args: argparse.Namespace) -> int:
    from anpr.deployment.sizing import TRITON_POD_GBIT, measure, plan, plot_simulation, simulate

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
        print("JPEG decoded on the GPUs (DESIGN.md's advice at this scale; not built yet):")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anpr", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server (starts a local Triton unless --triton-url)")
    serve.add_argument("--config", type=Path, help="TOML settings file (ANPR_* variables and flags override it)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (default 9464; 0 picks one)")
    serve.add_argument("--backend", choices=["triton", "onnxruntime", "null"])
    serve.add_argument("--triton-url", help="use this Triton (host:port, gRPC) instead of starting one")
    serve.set_defaults(handler=_serve)

    plan = commands.add_parser("plan", help="size a deployment from the latest benchmark results")
    plan.add_argument("--cameras", type=int, default=2300)
    plan.add_argument("--fps", type=float, default=10.0, help="frames per second per camera at peak")
    plan.add_argument("--results", type=Path, default=BENCHMARK_RESULTS)
    plan.add_argument("--simulate", action="store_true", help="replay a day of traffic through the HPA")
    plan.add_argument("--pod-fps", type=float, help="frames/s per Triton pod (default: derived from measurements)")
    plan.add_argument("--wire", choices=["uint8", "float32"], default="uint8", help="pixel type sent to Triton")
    plan.add_argument("--triton-pod-gbit", type=float, help="Gbit/s a one-GPU Triton pod can use (assumed; default 50)")
    plan.add_argument("--out", type=Path, default=BENCHMARK_RESULTS)
    plan.set_defaults(handler=_plan)

    stats = commands.add_parser("stats", help="per-camera counters of a running server (GetStats)")
    stats.add_argument("--address", default="127.0.0.1:50051")
    stats.add_argument("--camera", action="append", default=[], help="only this camera (repeatable)")
    stats.set_defaults(handler=_stats)

    bench = commands.add_parser("bench", help="benchmarks (results in benchmarks/results/)")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    bench_models = bench_commands.add_parser("models", help="accuracy and speed per model version and backend")
    bench_models.add_argument("--model-repository", type=Path, default=SOURCE_MODEL_REPOSITORY)
    bench_models.add_argument("--detector", type=Path, help="an ONNX file to compare instead of the repository")
    bench_models.add_argument("--recogniser", type=Path)
    bench_models.add_argument("--labelled", type=Path, help="labelled set (default: 60 fresh synthetic frames)")
    bench_models.add_argument("--backend", action="append", choices=["onnxruntime", "triton"])
    bench_models.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    bench_models.add_argument("--budget-s", type=float, default=2.0, help="seconds per measured point")
    bench_models.add_argument("--out", type=Path, default=BENCHMARK_RESULTS)
    bench_models.add_argument("--name", default="model_versions")
    bench_models.set_defaults(handler=_bench_models)

    feeds = bench_commands.add_parser("feeds", help="simulated cameras over gRPC at, below and above capacity")
    feeds.add_argument("--cameras", type=int, default=64, help="simulated camera feeds (up to 2,300)")
    feeds.add_argument("--seconds", type=float, default=20.0, help="duration of each load")
    feeds.add_argument("--loads", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="multiples of capacity")
    feeds.add_argument("--backend", choices=["triton", "onnxruntime", "null"], default="triton")
    feeds.add_argument("--workers", type=int, default=2, help="client processes")
    feeds.add_argument("--capacity", type=float, help="frames/s to take as capacity instead of measuring it")
    feeds.add_argument("--streams", type=int, help="gRPC streams in all, cameras shared out (default: one a worker)")
    feeds.add_argument("--out", type=Path, default=BENCHMARK_RESULTS)
    feeds.add_argument("--name", default="feeds")
    feeds.set_defaults(handler=_bench_feeds)

    overhead = bench_commands.add_parser("overhead", help="full server vs bare backend; null-model front-end cost")
    overhead.add_argument("--backend", choices=["triton", "onnxruntime"], default="onnxruntime")
    overhead.add_argument("--batch-size", type=int, default=16)
    overhead.add_argument("--seconds", type=float, default=15.0)
    overhead.add_argument("--cameras", type=int, default=32)
    overhead.add_argument("--out", type=Path, default=BENCHMARK_RESULTS)
    overhead.add_argument("--name", default="overhead")
    overhead.set_defaults(handler=_bench_overhead)

    models = commands.add_parser("models", help="train, export, evaluate models; make synthetic data")
    model_commands = models.add_subparsers(dest="models_command", required=True)

    build = model_commands.add_parser("build", help="render a deployable model repository (cpu or tensorrt)")
    build.add_argument("--target", choices=["cpu", "tensorrt"], required=True)
    build.add_argument("--output", type=Path, required=True)
    build.add_argument("--model-repository", type=Path, default=SOURCE_MODEL_REPOSITORY)
    build.add_argument(
        "--versions", type=int, nargs="+", default=[1], help="versions to serve side by side (old and new in a rollout)"
    )
    build.add_argument("--int8", action="store_true", help="recogniser also in INT8 (with --calibration-dir caches)")
    build.add_argument("--calibration-dir", type=Path)
    build.add_argument("--build", action="store_true", help="run trtexec here (needs TensorRT)")
    build.set_defaults(handler=_models_build)

    synth = model_commands.add_parser("synth", help="write a labelled synthetic image set")
    synth.add_argument("directory", type=Path)
    synth.add_argument("--count", type=int, required=True)
    synth.add_argument("--seed", type=int, required=True)
    synth.set_defaults(handler=_models_synth)

    evaluation = model_commands.add_parser("eval", help="score the shipped ONNX models on a labelled image set")
    evaluation.add_argument("directory", type=Path)
    evaluation.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    evaluation.add_argument("--model-repository", type=Path)
    evaluation.add_argument("--batch-size", type=int, default=8)
    evaluation.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluation.add_argument(
        "--fp16", action="store_true", help="models in float16, as TensorRT FP16 plans run them (needs `onnx`)"
    )
    evaluation.set_defaults(handler=_models_eval)

    for name, handler, text in (
        ("train", _models_train, "train a model (needs the `train` extra)"),
        ("export", _models_export, "export a training checkpoint to ONNX"),
    ):
        command = model_commands.add_parser(name, help=text)
        command.add_argument("model", choices=sorted(MODEL_FOLDERS))
        command.add_argument("--run-dir", type=Path, help="checkpoint and data cache (default runs/MODEL)")
        command.add_argument("--output", type=Path, help="ONNX path (default: the model repository, version 1)")
        command.set_defaults(handler=handler)
        if name == "train":
            command.add_argument("--steps", type=int)
            command.add_argument("--batch-size", type=int)
            command.add_argument("--samples", type=int, help="unique synthetic training samples")
            command.add_argument("--seed", type=int, default=1)
            command.add_argument("--workers", type=int, default=1, help="processes generating data")
            command.add_argument("--threads", type=int, default=2, help="PyTorch threads")
            command.add_argument("--stop-after", type=int, help="stop after this many steps; run again to resume")
            command.add_argument("--init-from", type=Path, help="fine-tune from this checkpoint (new schedule)")
            command.add_argument("--learning-rate", type=float)
            command.add_argument("--device", default="cpu", help="recogniser only: cuda trains on a GPU")
            command.add_argument("--no-export", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
