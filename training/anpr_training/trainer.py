"""Training recipes for the plate detector and recogniser: `anpr models train detector|recogniser`.

Both are seeded and resumable: the run folder holds the data cache and one checkpoint; running
the same command again continues from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from anpr.contract import CHARSET, DETECTOR, RECOGNISER
from anpr.vision.crop import crop_plate
from anpr.vision.ctc import decode_ctc
from anpr_synth.labelled_set import HIDDEN, reads_label
from anpr_synth.real_sets import HELD_OUT
from anpr_synth.scene import jittered_box
from anpr_training.checkpoints import checkpoint_width, load_checkpoint, load_weights, save_checkpoint
from anpr_training.datasets import (
    MAX_BOXES,
    WILDCARD,
    composite_set,
    detector_set,
    real_crops,
    recogniser_set,
)
from anpr_training.models import DETECTOR_STRIDE, PlateDetector, PlateRecogniser, unit_scaled
from anpr_training.negatives import hard_negatives
from anpr_training.onnx_weights import calibrate_batch_norms, load_onnx_weights, onnx_recogniser_width
from anpr_training.real_data import augmented_detector_sample, load_real_photos
from anpr_training.targets import detector_targets
from anpr_training.validation import detector_recall_precision
from anpr_training.widen import widen_recogniser

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
    # Real data (their training part only): photos with plate boxes (the detector trains on them, the
    # recogniser on new plates composited into them) and, for the recogniser, real plate crops.
    real_data: tuple[Path, ...] = ()
    real_crops: tuple[Path, ...] = ()
    real_share: float = 0.0  # share of each batch: real photos (detector) or real crops (recogniser)
    composite_share: float = 0.0  # recogniser: share of each batch from composited plates
    composite_samples: int = 0  # recogniser: composited crops generated (cached like the synthetic ones)
    # recogniser: how far a real crop's box is moved, in units of the shipped detector's synthetic box
    # error (4.5% of the width, 7% of the height); on real photos its boxes err about 1.4 times as much
    real_crop_jitter: float = 0.7
    # recogniser: real plates narrower than this (image pixels) are not trained on (0: all plates; the
    # photos' smallest are a few pixels wide; 30 was tried and not shipped: training/candidates/README.md)
    real_crop_min_width: float = 0.0
    # recogniser: a hidden character (`?`) of a real label is any one character (False) or any one
    # character or none (True: a greyed-out character shows none, reading it teaches reading smudges)
    hidden_optional: bool = False
    width: float = 1.0  # recogniser: channel scale of the network (1.0: version 1's)
    # recogniser: real photo sets whose every plate is boxed, mined with `negative_detector` for boxes
    # away from all plates, read as nothing by `negative_share` of each batch (`negatives.py`)
    hard_negatives: tuple[Path, ...] = ()
    negative_detector: Path | None = None
    negative_share: float = 0.0


VALIDATION_MIN_WIDTH = 20.0  # photo pixels: the real sets' smallest plates are a few pixels wide

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
    """Starts from another run's checkpoint, or from a shipped ONNX file of the same architecture; a
    recogniser from a narrower one's weights, widened so that it starts out computing the same."""
    if isinstance(model, PlateRecogniser):
        source_width = onnx_recogniser_width(path) if path.suffix == ".onnx" else checkpoint_width(path)
        if source_width != model.width:
            narrow = PlateRecogniser(source_width)
            _fine_tune_from(path, narrow)
            model.load_state_dict(widen_recogniser(narrow, model.width).state_dict())
            log.info("fine-tuning from %s widened from %.2f to %.2f", path, source_width, model.width)
            return
    if path.suffix == ".onnx":
        spec = DETECTOR if isinstance(model, PlateDetector) else RECOGNISER
        load_onnx_weights(path, model, torch.zeros(1, *spec.input.dims))
        log.info("fine-tuning from the weights of %s", path)
        return
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


def write_recipe(run: TrainingRun) -> Path:
    """Writes everything that defines the run (`run.json` beside its checkpoint), so a model card can
    quote the exact recipe of what it ships."""
    path = run.run_dir / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(run), indent=2, default=str) + "\n")  # paths as text
    return path


def _begin(
    run: TrainingRun, model: nn.Module, calibration: np.ndarray
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, torch.Generator, Path, int]:
    """Optimiser, schedule, sampling generator, checkpoint path and first step: resumed from the run's
    checkpoint if there is one, else (fine-tuning) the model starts from `run.init_from`'s weights; from
    an ONNX file, with BatchNorm statistics measured on `calibration` (uint8 model inputs, scaled here
    only when used)."""
    optimiser, scheduler = _optimiser(model, run)
    generator = torch.Generator().manual_seed(run.seed)
    write_recipe(run)
    checkpoint = run.run_dir / "checkpoint.pt"
    start = load_checkpoint(checkpoint, model, optimiser, scheduler, generator)
    if start == 0 and run.init_from is not None:
        _fine_tune_from(run.init_from, model)
        if run.init_from.suffix == ".onnx":
            device = next(model.parameters()).device
            calibrate_batch_norms(model, unit_scaled(torch.from_numpy(calibration))[:, None].to(device))
    return optimiser, scheduler, generator, checkpoint, start


def _detector_batch(
    run: TrainingRun,
    step: int,
    images: np.ndarray,
    boxes: np.ndarray,
    real: list,
    generator: torch.Generator,
    grid_hw: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch: synthetic frames from the cache and, `real_share` of it, augmented real photos."""
    n_real = round(run.batch_size * run.real_share) if real else 0
    index = torch.randint(0, len(images), (run.batch_size - n_real,), generator=generator).numpy()
    rng = np.random.default_rng([run.seed, step])
    batch, batch_boxes = _augment_detector_batch(images[index], boxes[index], rng)
    ignore = np.zeros_like(batch_boxes)
    if n_real:
        samples = [augmented_detector_sample(real[int(rng.integers(len(real)))], rng, MAX_BOXES) for _ in range(n_real)]
        batch = np.concatenate([batch, np.stack([s[0] for s in samples]).astype(np.float32) / 255.0])
        batch_boxes = np.concatenate([batch_boxes, np.stack([s[1] for s in samples])])
        ignore = np.concatenate([ignore, np.stack([s[2] for s in samples])])
    targets = [detector_targets(b, grid_hw, i) for b, i in zip(batch_boxes, ignore)]
    heat, regression, weight = (torch.from_numpy(np.stack([t[k] for t in targets])) for k in range(3))
    return torch.from_numpy(batch)[:, None], heat, regression, weight


def train_detector(run: TrainingRun) -> PlateDetector:
    torch.manual_seed(run.seed)
    images, boxes = detector_set(run.run_dir / "data", run.seed, run.samples, run.workers)
    real = load_real_photos(run.real_data) if run.real_data else []
    held_out = load_real_photos(run.real_data, HELD_OUT) if run.real_data else []
    model = PlateDetector()
    optimiser, scheduler, generator, checkpoint, start = _begin(run, model, images[:32])
    grid_hw = (images.shape[1] // DETECTOR_STRIDE, images.shape[2] // DETECTOR_STRIDE)
    model.train()
    progress = tqdm(
        range(start, run.stop_after or run.steps), initial=start, total=run.steps, desc="train detector", unit="step"
    )
    for step in progress:
        x, heat, regression, weight = _detector_batch(run, step, images, boxes, real, generator, grid_hw)
        loss = detector_loss(model(x), heat, regression, weight)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimiser.step()
        scheduler.step()
        progress.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % run.checkpoint_every == 0 or step + 1 in (run.steps, run.stop_after):
            save_checkpoint(checkpoint, model, optimiser, scheduler, step + 1, generator)
            if held_out and ((step + 1) % (run.checkpoint_every * 5) == 0 or step + 1 == run.steps):
                for min_width in (0.0, VALIDATION_MIN_WIDTH):
                    scores = detector_recall_precision(model, held_out, min_width)
                    log.info(
                        "detector step %d, held-out real photos, plates >= %.0f px: recall %.4f precision %.4f "
                        "(%d plates)",
                        step + 1,
                        min_width,
                        scores["recall"],
                        scores["precision"],
                        scores["plates"],
                    )
    return model.eval()


def _reads_label(read: str, target: list[int], skip_hidden: bool = False) -> bool:
    """Whether a read is the label (class ids), a hidden character (WILDCARD) standing for any one
    character, or with `skip_hidden` for any one character or none."""
    label = "".join(HIDDEN if t == WILDCARD else CHARSET[t - 1] for t in target)
    return reads_label(label, read, hidden_may_be_skipped=skip_hidden)


def recogniser_accuracy(
    model: PlateRecogniser, crops: np.ndarray, targets: np.ndarray, lengths: np.ndarray, skip_hidden: bool = False
) -> float:
    """Exact-match rate of greedy CTC decoding on a held-out set (hidden characters match anything;
    with `skip_hidden`, nothing too)."""
    model.eval()
    correct = 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(crops), 256):
            x = unit_scaled(torch.from_numpy(crops[start : start + 256]))[:, None].to(device)
            probs = torch.softmax(model(x), dim=-1).cpu().numpy()
            for k, p in enumerate(probs):
                target = targets[start + k, : lengths[start + k]].tolist()
                correct += _reads_label(decode_ctc(p).text, target, skip_hidden)
    model.train()
    return correct / len(crops)


def wildcard_ctc_loss(
    ctc: nn.CTCLoss, logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """CTC loss where target class WILDCARD (a hidden character) is any character: its log-probability
    in a column is that of the sum over all character classes (never the blank)."""
    log_probs = torch.log_softmax(logits, dim=-1)
    wildcard = torch.logsumexp(log_probs[..., 1:], dim=-1, keepdim=True)
    extended = torch.cat([log_probs, wildcard], dim=-1).permute(1, 0, 2)  # (T, N, C + 1) for CTCLoss
    input_lengths = torch.full((len(logits),), extended.shape[0], dtype=torch.long, device=logits.device)
    return ctc(extended, targets, input_lengths, lengths)


MAX_OPTIONAL_HIDDEN = 3  # a label with more hidden characters keeps them all as wildcards (2**k targets)


def _hidden_optional_targets(
    targets: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every way of keeping or leaving out each hidden character of each label: (targets, lengths,
    owner: the label each variant belongs to, slot: the variant's number within its label). A kept
    hidden character stays WILDCARD."""
    rows, kept_lengths, owners, slots = [], [], [], []
    for owner, (target, length) in enumerate(zip(targets, lengths)):
        label = target[:length]
        hidden = np.flatnonzero(label == WILDCARD)
        if len(hidden) > MAX_OPTIONAL_HIDDEN:
            hidden = hidden[:0]
        for mask in range(2 ** len(hidden)):
            dropped = {int(hidden[bit]) for bit in range(len(hidden)) if mask >> bit & 1}
            variant = [c for i, c in enumerate(label) if i not in dropped]
            rows.append(np.pad(np.array(variant, np.int64), (0, targets.shape[1] - len(variant))))
            kept_lengths.append(len(variant))
            owners.append(owner)
            slots.append(mask)
    return np.stack(rows), np.array(kept_lengths, np.int64), np.array(owners, np.int64), np.array(slots, np.int64)


def hidden_optional_ctc_loss(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The wildcard CTC loss (mean over the batch of each label's loss per character, as nn.CTCLoss
    averages) where a hidden character is any one character *or none*: the label's probability is the
    sum over keeping or leaving out each hidden character (the readings are disjoint). A dataset's
    greyed-out character shows no character, so the recogniser is not taught to read a smudge as one."""
    log_probs = torch.log_softmax(logits, dim=-1)
    wildcard = torch.logsumexp(log_probs[..., 1:], dim=-1, keepdim=True)
    extended = torch.cat([log_probs, wildcard], dim=-1).permute(1, 0, 2)  # (T, N, C + 1)
    variants, variant_lengths, owners, slots = (
        torch.from_numpy(a).to(logits.device)
        for a in _hidden_optional_targets(targets.cpu().numpy(), lengths.cpu().numpy())
    )
    input_lengths = torch.full((len(owners),), extended.shape[0], dtype=torch.long, device=logits.device)
    nll = nn.functional.ctc_loss(
        extended[:, owners], variants, input_lengths, variant_lengths, blank=0, reduction="none"
    )
    # Every variant fits the output columns (at most MAX_PLATE_CHARS characters with a blank between
    # repeats is 19 of 32), so each is finite; unused slots stay infinite and weigh nothing.
    per_label = torch.full((len(logits), 2**MAX_OPTIONAL_HIDDEN), float("inf"), device=logits.device)
    per_label = per_label.index_put((owners, slots), nll)
    combined = -torch.logsumexp(-per_label, dim=1)
    return (combined / lengths.clamp(min=1)).mean()


def _real_crop_batch(
    images: list[np.ndarray],
    boxes: np.ndarray,
    targets: np.ndarray,
    lengths: np.ndarray,
    count: int,
    rng: np.random.Generator,
    jitter: float = 0.7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` real plates cut to the recogniser input from detector-like boxes around their labelled boxes."""
    picks = rng.integers(0, len(images), count)
    crops = []
    for k in picks:
        x1, y1, x2, y2 = boxes[k]
        quad = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        crops.append(crop_plate(images[k], jittered_box(quad, rng, jitter)))
    return np.stack(crops), targets[picks], lengths[picks]


def _mixed(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))  # type: ignore[return-value]


def train_recogniser(run: TrainingRun) -> PlateRecogniser:
    """Synthetic crops, with `composite_share` of each batch from plates composited into the real photos
    of `real_data`, `real_share` from the real crops of `real_crops` (hidden characters as wildcards) and
    `negative_share` from hard negatives mined in `hard_negatives` (read as nothing)."""
    torch.manual_seed(run.seed)
    data = run.run_dir / "data"
    crops, targets, lengths = recogniser_set(data, run.seed, run.samples, run.workers)
    held_out = recogniser_set(data, run.seed + 1000, min(1000, run.samples), run.workers)
    composites = (
        composite_set(data, run.seed, run.composite_samples, run.real_data, run.workers)
        if run.real_data and run.composite_share > 0
        else None
    )
    real = (
        real_crops(run.real_crops, min_width=run.real_crop_min_width) if run.real_crops and run.real_share > 0 else None
    )
    negatives = None
    if run.hard_negatives and run.negative_share > 0:
        if run.negative_detector is None:
            raise ValueError("hard negatives need a detector to mine them with (negative_detector)")
        negatives = hard_negatives(run.hard_negatives, run.negative_detector)
    real_held_out = None
    if run.real_crops:  # the held-out real plates, cut once from their labelled boxes: a fixed check
        images, boxes, real_targets, real_lengths = real_crops(run.real_crops, HELD_OUT)
        real_held_out = (
            np.stack([crop_plate(image, tuple(box)) for image, box in zip(images, boxes)]),
            real_targets,
            real_lengths,
        )
    device = torch.device(run.device)
    model = PlateRecogniser(run.width).to(device)
    optimiser, scheduler, generator, checkpoint, start = _begin(run, model, held_out[0][:512])
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    model.train()
    progress = tqdm(
        range(start, run.stop_after or run.steps), initial=start, total=run.steps, desc="train recogniser", unit="step"
    )
    n_composite = round(run.batch_size * run.composite_share) if composites is not None else 0
    n_real = round(run.batch_size * run.real_share) if real is not None else 0
    n_negative = round(run.batch_size * run.negative_share) if negatives is not None and len(negatives[1]) else 0
    accuracy = float("nan")
    for step in progress:
        rng = np.random.default_rng([run.seed, step, 5])
        index = torch.randint(
            0, len(crops), (run.batch_size - n_composite - n_real - n_negative,), generator=generator
        ).numpy()
        parts = [(crops[index], targets[index], lengths[index])]
        if composites is not None and n_composite:
            pick = rng.integers(0, len(composites[0]), n_composite)
            parts.append((composites[0][pick], composites[1][pick], composites[2][pick]))
        if real is not None and n_real:
            parts.append(_real_crop_batch(*real, n_real, rng, run.real_crop_jitter))
        if negatives is not None and n_negative:
            parts.append(_real_crop_batch(*negatives, n_negative, rng, run.real_crop_jitter))
        batch, batch_targets, batch_lengths = (torch.from_numpy(a).to(device) for a in _mixed(parts))
        x = unit_scaled(batch)[:, None]
        dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=generator))
        x = torch.roll(nn.functional.pad(x, (3, 3, 2, 2), mode="replicate"), shifts=(dy, dx), dims=(2, 3))[
            :, :, 2:-2, 3:-3
        ]
        contrast = torch.empty(len(x), 1, 1, 1).uniform_(0.7, 1.3, generator=generator).to(device)
        noise = torch.randn(len(x), 1, 1, 1, generator=generator).to(device) * 0.05
        x = ((x - 0.5) * contrast + 0.5 + noise).clamp(0, 1)
        logits = model(x)
        if run.hidden_optional:
            loss = hidden_optional_ctc_loss(logits, batch_targets, batch_lengths)
        else:
            loss = wildcard_ctc_loss(ctc, logits, batch_targets, batch_lengths)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        scheduler.step()
        if (step + 1) % run.checkpoint_every == 0 or step + 1 in (run.steps, run.stop_after):
            save_checkpoint(checkpoint, model, optimiser, scheduler, step + 1, generator)
            if (step + 1) % (run.checkpoint_every * 10) == 0 or step + 1 == run.steps:
                accuracy = recogniser_accuracy(model, *held_out)
                log.info("recogniser step %d held-out synthetic exact match %.4f", step + 1, accuracy)
                if real_held_out is not None:
                    log.info(
                        "recogniser step %d held-out real crops exact match (hidden characters match any) %.4f, "
                        "hidden characters read or skipped %.4f",
                        step + 1,
                        recogniser_accuracy(model, *real_held_out),
                        recogniser_accuracy(model, *real_held_out, skip_hidden=True),
                    )
        progress.set_postfix(loss=f"{loss.item():.3f}", held_out=f"{accuracy:.3f}")
    return model.eval().cpu()


def train(run: TrainingRun) -> nn.Module:
    if run.model == "detector" and run.device != "cpu":
        raise ValueError("only the recogniser trains on a GPU (--device); the detector recipe is CPU-only")
    torch.set_num_threads(run.threads)
    return train_detector(run) if run.model == "detector" else train_recogniser(run)
