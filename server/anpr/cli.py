"""The `anpr` command line: the server's own commands, and those other packages register.

`serve`, `stats` and `models build` live here. Training (`models train`, `models export`), the
synthetic generator (`models synth`), evaluation and benchmarks (`models eval`, `bench ...`, `demo`,
`plan`) are added by their own packages through the `anpr.commands` entry points, so this package
never imports them; a command whose optional extra is missing says which extra to install.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from anpr.config import load_settings

log = logging.getLogger(__name__)

ENTRY_POINTS = "anpr.commands"
DEFAULT_MODEL_REPOSITORY = Path("model_repository")  # relative to the working directory
# Which optional extra brings a module that a registered command may need.
EXTRAS = {"torch": "train", "onnx": "train", "tqdm": "tools", "matplotlib": "tools", "pytriton": "local-triton"}


@dataclass(frozen=True)
class CommandGroups:
    """Where registered commands go: `anpr X`, `anpr models X`, `anpr bench X`."""

    top: argparse._SubParsersAction
    models: argparse._SubParsersAction
    bench: argparse._SubParsersAction


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


def _channel(args: argparse.Namespace):  # -> grpc.Channel
    """A channel to `--address`: TLS when `--tls-ca` is given, with a client certificate if asked."""
    import grpc

    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    if args.tls_ca is None:
        return grpc.insecure_channel(args.address, options=options)
    key = args.tls_key.read_bytes() if args.tls_key else None
    chain = args.tls_cert.read_bytes() if args.tls_cert else None
    credentials = grpc.ssl_channel_credentials(args.tls_ca.read_bytes(), key, chain)
    return grpc.secure_channel(args.address, credentials, options=options)


def _stats(args: argparse.Namespace) -> int:
    import grpc

    from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc

    metadata = (("authorization", f"Bearer {args.token_file.read_text().strip()}"),) if args.token_file else None
    with _channel(args) as channel:
        try:
            stats = anpr_pb2_grpc.PlateRecognitionStub(channel).GetStats(
                anpr_pb2.GetStatsRequest(camera_ids=args.camera), timeout=10, metadata=metadata
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


def _models_build(args: argparse.Namespace) -> int:
    from anpr.deployment.repository import BuildOptions, TensorRTMissing, build_engines, render
    from anpr.inference.onnxruntime_models import ModelFileError

    options = BuildOptions(
        target=args.target,
        versions=tuple(args.versions),
        int8=args.int8,
        calibration_dir=args.calibration_dir,
        pipeline=args.with_pipeline,
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anpr", description=__doc__.split("\n\n")[0])
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

    stats = commands.add_parser("stats", help="per-camera counters of a running server (GetStats)")
    stats.add_argument("--address", default="127.0.0.1:50051")
    stats.add_argument("--camera", action="append", default=[], help="only this camera (repeatable)")
    stats.add_argument("--tls-ca", type=Path, help="CA of the server's certificate: connect over TLS")
    stats.add_argument("--tls-cert", type=Path, help="client certificate (mutual TLS)")
    stats.add_argument("--tls-key", type=Path, help="its private key")
    stats.add_argument("--token-file", type=Path, help="file holding a bearer token (never on the command line)")
    stats.set_defaults(handler=_stats)

    bench = commands.add_parser("bench", help="benchmarks (results in benchmarks/results/)")
    models = commands.add_parser("models", help="build, train, export, evaluate models; make labelled data")
    groups = CommandGroups(
        commands,
        models.add_subparsers(dest="models_command", required=True),
        bench.add_subparsers(dest="bench_command", required=True),
    )

    build = groups.models.add_parser("build", help="render a deployable model repository (cpu or tensorrt)")
    build.add_argument("--target", choices=["cpu", "tensorrt"], required=True)
    build.add_argument("--output", type=Path, required=True)
    build.add_argument("--model-repository", type=Path, default=DEFAULT_MODEL_REPOSITORY)
    build.add_argument(
        "--versions", type=int, nargs="+", default=[1], help="versions to serve side by side (old and new in a rollout)"
    )
    build.add_argument("--int8", action="store_true", help="recogniser also in INT8 (with --calibration-dir caches)")
    build.add_argument("--calibration-dir", type=Path)
    build.add_argument("--build", action="store_true", help="run trtexec here (needs TensorRT)")
    build.add_argument(
        "--with-pipeline", action="store_true", help="also plate_pipeline (encoded frames in; DALI + BLS)"
    )
    build.set_defaults(handler=_models_build)

    for entry_point in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        try:
            register = entry_point.load()
        except ImportError as error:  # a plugin that cannot load must not take `anpr serve` down with it
            log.debug("commands of %s not available: %s", entry_point.value, error)
            continue
        register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.handler(args))
    except ModuleNotFoundError as error:
        module = (error.name or "").split(".")[0]
        if module not in EXTRAS:
            raise
        print(
            f"error: this command needs {module}, from the `{EXTRAS[module]}` extra: "
            f"pip install 'anpr[{EXTRAS[module]}]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
