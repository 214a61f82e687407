"""Seeded, resumable training: one checkpoint file per run, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    generator: torch.Generator,
) -> None:
    """Writes the run's state; a model's `width` (its channel scale) goes with it, to rebuild it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "generator": generator.get_state(),
            "width": getattr(model, "width", 1.0),
        },
        tmp,
    )
    os.replace(tmp, path)


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """Restores what is given from `path`; returns the step to continue from (0 if none)."""
    if not path.exists():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimiser is not None:
        optimiser.load_state_dict(state["optimiser"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if generator is not None:
        generator.set_state(state["generator"])
    return int(state["step"])


def load_weights(path: Path, model: torch.nn.Module) -> list[str]:
    """Starts `model` from another run's weights (fine-tuning); returns the parameters it left as
    initialised because the checkpoint has none of that name and shape (e.g. a new head)."""
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint to fine-tune from at {path}")
    saved = torch.load(path, map_location="cpu", weights_only=False)["model"]
    own = model.state_dict()
    usable = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def checkpoint_width(path: Path) -> float:
    """The channel scale of the model a checkpoint holds (1.0 for checkpoints older than the setting)."""
    return float(torch.load(path, map_location="cpu", weights_only=False).get("width", 1.0))
