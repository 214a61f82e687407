"""`anpr models train` and `anpr models export`, registered with the `anpr` CLI (entry point
`anpr.commands`). PyTorch is imported only when one of them runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from anpr.cli import DEFAULT_MODEL_REPOSITORY, CommandGroups
from anpr.contract import BY_ROLE


def _destination(args: argparse.Namespace) -> Path | None:
    if args.output:
        return Path(args.output)
    if args.version:
        return args.model_repository / BY_ROLE[args.model].name / str(args.version) / "model.onnx"
    return None


def _export(role: str, model: object, output: Path) -> None:
    from anpr_training.export import export

    error = export(role, model, output)  # type: ignore[arg-type]
    print(f"exported {role} to {output} (ONNX Runtime vs PyTorch max abs difference {error:.2e})")


def _shipped_detector(repository: Path) -> Path:
    from anpr.inference.pipeline import PipelineSettings

    return repository / BY_ROLE["detector"].name / str(PipelineSettings().detector_version) / "model.onnx"


def _train(args: argparse.Namespace) -> int:
    from anpr_training.trainer import RECIPES, TrainingRun, train

    output = _destination(args)
    if output is None and not args.no_export:
        print("error: say where the model goes: --version N (the model repository) or --output FILE", file=sys.stderr)
        return 2
    recipe = dict(RECIPES[args.model])
    for key in (
        "steps",
        "batch_size",
        "samples",
        "learning_rate",
        "real_share",
        "composite_share",
        "composite_samples",
        "width",
        "real_crop_jitter",
        "real_crop_min_width",
        "hidden_optional",
        "negative_share",
    ):
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
        real_data=tuple(args.real),
        real_crops=tuple(args.real_crops),
        hard_negatives=tuple(args.hard_negatives),
        negative_detector=(args.negative_detector or _shipped_detector(args.model_repository))
        if args.hard_negatives
        else None,
        **recipe,
    )
    model = train(run)
    if run.stop_after is not None and run.stop_after < run.steps:
        print(f"stopped after step {run.stop_after} of {run.steps}; run the same command again to resume")
    elif output is not None and not args.no_export:
        _export(args.model, model, output)
    return 0


def _export_checkpoint(args: argparse.Namespace) -> int:
    from anpr_training.checkpoints import checkpoint_width, load_checkpoint
    from anpr_training.models import PlateDetector, PlateRecogniser

    output = _destination(args)
    if output is None:
        print("error: say where the model goes: --version N (the model repository) or --output FILE", file=sys.stderr)
        return 2
    checkpoint = (args.run_dir or Path("runs") / args.model) / "checkpoint.pt"
    if not checkpoint.exists():
        print(f"error: no checkpoint at {checkpoint}", file=sys.stderr)
        return 2
    model = PlateDetector() if args.model == "detector" else PlateRecogniser(checkpoint_width(checkpoint))
    if not load_checkpoint(checkpoint, model):
        print(f"error: no checkpoint at {checkpoint}", file=sys.stderr)
        return 2
    _export(args.model, model.eval(), output)
    return 0


def register(groups: CommandGroups) -> None:
    for name, handler, text in (
        ("train", _train, "train a model (needs the `train` extra); resumable"),
        ("export", _export_checkpoint, "export a training checkpoint to ONNX"),
    ):
        command = groups.models.add_parser(name, help=text)
        command.add_argument("model", choices=sorted(BY_ROLE))
        command.add_argument("--run-dir", type=Path, help="checkpoint and data cache (default runs/MODEL)")
        command.add_argument("--version", type=int, help="export as this version in --model-repository")
        command.add_argument("--model-repository", type=Path, default=DEFAULT_MODEL_REPOSITORY)
        command.add_argument("--output", type=Path, help="export to this ONNX file instead")
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
            command.add_argument(
                "--real",
                type=Path,
                action="append",
                default=[],
                help="real photos with plate boxes (repeatable; their training part only): the detector trains "
                "on them, the recogniser on new plates composited into them",
            )
            command.add_argument(
                "--real-crops",
                type=Path,
                action="append",
                default=[],
                help="recogniser: real plates with text, `?` for hidden characters (training part only), cut from "
                "their labelled boxes: crop sets (the box is the crop) or photo sets (plates at photo resolution)",
            )
            command.add_argument(
                "--real-share", type=float, help="share of each batch from --real photos (detector) or --real-crops"
            )
            command.add_argument("--composite-share", type=float, help="recogniser: share of each batch composited")
            command.add_argument("--composite-samples", type=int, help="recogniser: composited crops to generate")
            command.add_argument("--device", default="cpu", help="recogniser only: cuda trains on a GPU")
            command.add_argument("--width", type=float, help="recogniser only: channel scale (1.0: version 1's)")
            command.add_argument(
                "--real-crop-jitter", type=float, help="recogniser: box jitter of real crops (0.7; detector units)"
            )
            command.add_argument(
                "--hidden-optional",
                action="store_const",
                const=True,
                help="recogniser: a hidden character of a real label may also be read as nothing (the "
                "greyed-out characters of uc3m-lp show none)",
            )
            command.add_argument(
                "--real-crop-min-width",
                type=float,
                help="recogniser: train only on real plates at least this wide in their image (px; 0: all)",
            )
            command.add_argument(
                "--hard-negatives",
                type=Path,
                action="append",
                default=[],
                help="recogniser: real photo sets with every plate boxed (training part only): the detector's "
                "boxes away from all plates are read as nothing (repeatable)",
            )
            command.add_argument(
                "--negative-detector",
                type=Path,
                help="recogniser: the detector ONNX that mines --hard-negatives (default: the serving default's)",
            )
            command.add_argument("--negative-share", type=float, help="recogniser: share of each batch hard negatives")
            command.add_argument("--no-export", action="store_true")
