"""`anpr models synth`, registered with the `anpr` CLI (entry point `anpr.commands`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from anpr.cli import CommandGroups


def _synth(args: argparse.Namespace) -> int:
    from anpr_synth.synthetic_set import write_labelled_set

    plates = write_labelled_set(args.directory, args.count, args.seed)
    print(f"wrote {args.count} frames with {plates} plates to {args.directory}")
    return 0


def register(groups: CommandGroups) -> None:
    synth = groups.models.add_parser("synth", help="write a labelled synthetic image set")
    synth.add_argument("directory", type=Path)
    synth.add_argument("--count", type=int, required=True)
    synth.add_argument("--seed", type=int, required=True)
    synth.set_defaults(handler=_synth)
