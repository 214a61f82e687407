"""Training sets drawn from the synthetic generator, generated in parallel and cached on disk.

Caches are plain .npy files keyed by (seed, count), so a resumed run reuses them.
"""

from __future__ import annotations

from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anpr.contract import DETECTOR_INPUT_HW, MAX_PLATE_CHARS, RECOGNISER_INPUT_HW
from anpr.vision.ctc import encode_text
from anpr.vision.letterbox import letterbox
from anpr_synth.scene import generate_frame, generate_plate_crop

MAX_BOXES = 8


def _detector_sample(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, index = args
    frame = generate_frame(seed, index)
    image, transform = letterbox(frame.image, DETECTOR_INPUT_HW)
    boxes = np.zeros((MAX_BOXES, 4), dtype=np.float32)
    for k, plate in enumerate(frame.plates[:MAX_BOXES]):
        x, y, w, h = plate.box
        boxes[k] = transform.to_input(np.array([x, y, x + w, y + h], dtype=np.float32))
    return image, boxes


def _recogniser_sample(args: tuple[int, int]) -> tuple[np.ndarray, str]:
    seed, index = args
    return generate_plate_crop(np.random.default_rng([seed, index, 1]))


def _generate(worker, items: list[tuple[int, int]], workers: int, desc: str) -> list:
    if workers <= 1:
        return [worker(item) for item in tqdm(items, desc=desc, unit="sample")]
    with get_context("spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(worker, items, chunksize=16), total=len(items), desc=desc, unit="sample"))


def detector_set(cache: Path, seed: int, count: int, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 384, 640) uint8 letterboxed grey, boxes (N, MAX_BOXES, 4) in input pixels; zeros pad)."""
    path = cache / f"detector_seed{seed}_n{count}.npz"
    if path.exists():
        data = np.load(path)
        return data["images"], data["boxes"]
    samples = _generate(_detector_sample, [(seed, i) for i in range(count)], workers, "detector frames")
    images = np.stack([s[0] for s in samples])
    boxes = np.stack([s[1] for s in samples])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=images, boxes=boxes)
    assert images.shape[1:] == DETECTOR_INPUT_HW
    return images, boxes


def recogniser_set(cache: Path, seed: int, count: int, workers: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crops (N, 32, 128) uint8, targets (N, MAX_PLATE_CHARS) class ids, lengths (N,))."""
    path = cache / f"recogniser_seed{seed}_n{count}.npz"
    if path.exists():
        data = np.load(path)
        return data["crops"], data["targets"], data["lengths"]
    samples = _generate(_recogniser_sample, [(seed, i) for i in range(count)], workers, "plate crops")
    crops = np.stack([s[0] for s in samples])
    targets = np.zeros((count, MAX_PLATE_CHARS), dtype=np.int64)
    lengths = np.zeros(count, dtype=np.int64)
    for k, (_, text) in enumerate(samples):
        encoded = encode_text(text)
        targets[k, : len(encoded)] = encoded
        lengths[k] = len(encoded)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, crops=crops, targets=targets, lengths=lengths)
    assert crops.shape[1:] == RECOGNISER_INPUT_HW
    return crops, targets, lengths
