"""Training recipes for the plate detector and recogniser: `anpr models train detector|recogniser`.

Both are seeded and resumable: the run folder holds the data cache and one checkpoint; running
the same command again continues from the last checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from anpr.vision.ctc import decode_ctc, encode_text
from anpr_training.checkpoints import load_checkpoint, load_weights, save_checkpoint
from anpr_training.datasets import detector_set, recogniser_set
from anpr_training.models import DETECTOR_STRIDE, PlateDetector, PlateRecogniser, unit_scaled
from anpr_training.targets import detector_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRun:
    """What one training run does. Defaults are the shipped models' recipe."""

    model: str  # "detector" or "recogniser"
    run_dir: Path
    steps: int
    batch_size: int
    learning_rate: float
    samples: int  # unique synthetic samples generated for training
    seed: int = 1
    workers: int = 1
    threads: int = 1
    checkpoint_every: int = 100
    stop_after: int | None = None  # stop once this many steps are done; run again to resume
    init_from: Path | None = None  # fine-tune: start from this checkpoint's weights (fresh schedule)
    device: str = "cpu"  # "cuda": the recogniser's crops, augmentation and model on the GPU
    real_data: tuple[Path, ...] = ()  # real labelled sets to train on too (their training part only)
    real_share: float = 0.0  # share of each batch drawn from the real data


RECIPES = {
    "detector": dict(steps=2100, batch_size=16, learning_rate=2e-3, samples=2400),
    "recogniser": dict(steps=9000, batch_size=64, learning_rate=2e-3, samples=40000),
}


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of plates."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = heat.eq(1).float()
    pos_loss = -((1 - p) ** 2) * torch.log(p) * positive
    neg_loss = -((1 - heat) ** 4) * (p**2) * torch.log(1 - p) * (1 - positive)
    return (pos_loss.sum() + neg_loss.sum()) / positive.sum().clamp(min=1)


def detector_loss(
    raw: torch.Tensor, heat: torch.Tensor, regression: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    offsets = 4 * torch.sigmoid(raw[:, 1:3]) - 1.5
    predicted = torch.cat([offsets, raw[:, 3:5]], dim=1)
    l1 = (predicted - regression).abs().sum(dim=1) * weight
    return focal_loss(raw[:, 0], heat) + l1.sum() / weight.sum().clamp(min=1)


def _augment_detector_batch(
    images: np.ndarray, boxes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    images = images.astype(np.float32) / 255.0
    boxes = boxes.copy()
    width = images.shape[2]
    for k in range(len(images)):
        if rng.random() < 0.5:  # mirror: plates stay plates; text direction does not matter here
            images[k] = images[k, :, ::-1]
            valid = boxes[k, :, 2] > boxes[k, :, 0]
            x1 = boxes[k, :, 0].copy()
            boxes[k, valid, 0] = width - boxes[k, valid, 2]
            boxes[k, valid, 2] = width - x1[valid]
        gamma = rng.uniform(0.7, 1.4)
        images[k] = np.clip(images[k] ** gamma * rng.uniform(0.8, 1.2) + rng.uniform(-0.08, 0.08), 0, 1)
    return images, boxes


def _fine_tune_from(path: Path, model: nn.Module) -> None:
    fresh = load_weights(path, model)
    if fresh:
        log.info("fine-tuning from %s; new (not loaded): %s", path, ", ".join(fresh))


def _optimiser(
    model: nn.Module, run: TrainingRun
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    optimiser = torch.optim.AdamW(model.parameters(), lr=run.learning_rate, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=run.learning_rate, total_steps=run.steps, pct_start=0.08
    )
    return optimiser, scheduler


def _begin(
    run: TrainingRun, model: nn.Module
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, torch.Generator, Path, int]:
    """Optimiser, schedule, sampling generator, checkpoint path and first step: resumed from the run's
    checkpoint if there is one, else (fine-tuning) the model starts from `run.init_from`'s weights."""
    optimiser, scheduler = _optimiser(model, run)
    generator = torch.Generator().manual_seed(run.seed)
    checkpoint = run.run_dir / "checkpoint.pt"
    start = load_checkpoint(checkpoint, model, optimiser, scheduler, generator)
    if start == 0 and run.init_from is not None:
        _fine_tune_from(run.init_from, model)
    return optimiser, scheduler, generator, checkpoint, start


def train_detector(run: TrainingRun) -> PlateDetector:
    torch.manual_seed(run.seed)
    images, boxes = detector_set(run.run_dir / "data", run.seed, run.samples, run.workers)
    model = PlateDetector()
    optimiser, scheduler, generator, checkpoint, start = _begin(run, model)
    grid_hw = (images.shape[1] // DETECTOR_STRIDE, images.shape[2] // DETECTOR_STRIDE)
    model.train()
    progress = tqdm(
        range(start, run.stop_after or run.steps), initial=start, total=run.steps, desc="train detector", unit="step"
    )
    for step in progress:
        index = torch.randint(0, len(images), (run.batch_size,), generator=generator).numpy()
        rng = np.random.default_rng([run.seed, step])
        batch, batch_boxes = _augment_detector_batch(images[index], boxes[index], rng)
        targets = [detector_targets(b, grid_hw) for b in batch_boxes]
        heat = torch.from_numpy(np.stack([t[0] for t in targets]))
        regression = torch.from_numpy(np.stack([t[1] for t in targets]))
        weight = torch.from_numpy(np.stack([t[2] for t in targets]))
        loss = detector_loss(model(torch.from_numpy(batch)[:, None]), heat, regression, weight)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimiser.step()
        scheduler.step()
        progress.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % run.checkpoint_every == 0 or step + 1 in (run.steps, run.stop_after):
            save_checkpoint(checkpoint, model, optimiser, scheduler, step + 1, generator)
    return model.eval()


def recogniser_accuracy(model: PlateRecogniser, crops: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> float:
    """Exact-match rate of greedy CTC decoding on a held-out set."""
    model.eval()
    correct = 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(crops), 256):
            x = unit_scaled(torch.from_numpy(crops[start : start + 256]))[:, None].to(device)
            probs = torch.softmax(model(x), dim=-1).cpu().numpy()
            for k, p in enumerate(probs):
                truth = targets[start + k, : lengths[start + k]].tolist()
                correct += encode_text(decode_ctc(p).text) == truth
    model.train()
    return correct / len(crops)


def train_recogniser(run: TrainingRun) -> PlateRecogniser:
    torch.manual_seed(run.seed)
    crops, targets, lengths = recogniser_set(run.run_dir / "data", run.seed, run.samples, run.workers)
    held_out = recogniser_set(run.run_dir / "data", run.seed + 1000, min(1000, run.samples), run.workers)
    device = torch.device(run.device)
    crops_on, targets_on, lengths_on = (torch.from_numpy(a).to(device) for a in (crops, targets, lengths))
    model = PlateRecogniser().to(device)
    optimiser, scheduler, generator, checkpoint, start = _begin(run, model)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    model.train()
    progress = tqdm(
        range(start, run.stop_after or run.steps), initial=start, total=run.steps, desc="train recogniser", unit="step"
    )
    accuracy = float("nan")
    for step in progress:
        index = torch.randint(0, len(crops), (run.batch_size,), generator=generator).to(device)
        x = unit_scaled(crops_on[index])[:, None]
        dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=generator))
        x = torch.roll(nn.functional.pad(x, (3, 3, 2, 2), mode="replicate"), shifts=(dy, dx), dims=(2, 3))[
            :, :, 2:-2, 3:-3
        ]
        contrast = torch.empty(len(x), 1, 1, 1).uniform_(0.7, 1.3, generator=generator).to(device)
        noise = torch.randn(len(x), 1, 1, 1, generator=generator).to(device) * 0.05
        x = ((x - 0.5) * contrast + 0.5 + noise).clamp(0, 1)
        log_probs = torch.log_softmax(model(x), dim=-1).permute(1, 0, 2)  # (T, N, C) for CTCLoss
        input_lengths = torch.full((len(x),), log_probs.shape[0], dtype=torch.long, device=device)
        loss = ctc(log_probs, targets_on[index], input_lengths, lengths_on[index])
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        scheduler.step()
        if (step + 1) % run.checkpoint_every == 0 or step + 1 in (run.steps, run.stop_after):
            save_checkpoint(checkpoint, model, optimiser, scheduler, step + 1, generator)
            if (step + 1) % (run.checkpoint_every * 10) == 0 or step + 1 == run.steps:
                accuracy = recogniser_accuracy(model, *held_out)
                log.info("recogniser step %d held-out exact match %.4f", step + 1, accuracy)
        progress.set_postfix(loss=f"{loss.item():.3f}", held_out=f"{accuracy:.3f}")
    return model.eval().cpu()


def train(run: TrainingRun) -> nn.Module:
    if run.model == "detector" and run.device != "cpu":
        raise ValueError("only the recogniser trains on a GPU (--device); the detector recipe is CPU-only")
    torch.set_num_threads(run.threads)
    return train_detector(run) if run.model == "detector" else train_recogniser(run)
