"""Training sets: synthetic frames and crops, and crops of plates composited into real photographs,
generated in parallel and cached on disk; real plate crops loaded as they are.

Caches are plain .npz files keyed by (seed, count), so a resumed run reuses them. Recogniser labels
are class ids; a hidden character (`?`) is WILDCARD, which the CTC loss lets stand for any character.
"""

from __future__ import annotations

from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anpr.contract import CHARSET, DETECTOR_INPUT_HW, MAX_PLATE_CHARS, NUM_CLASSES, RECOGNISER_INPUT_HW
from anpr.ingest.decode import decode_encoded
from anpr.vision.letterbox import letterbox
from anpr_synth.composite import MIN_COMPOSITE_WIDTH, composite_crop
from anpr_synth.labelled_set import HIDDEN
from anpr_synth.real_sets import TRAIN, real_set_part
from anpr_synth.scene import generate_frame, generate_plate_crop

MAX_BOXES = 8
WILDCARD = NUM_CLASSES  # the class id of a hidden character: one past the recogniser's own classes


def encode_label(text: str) -> list[int]:
    """Class ids of a label: CHARSET characters as the recogniser's classes, `?` as WILDCARD."""
    return [WILDCARD if c == HIDDEN else CHARSET.index(c) + 1 for c in text]


def _detector_sample(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, index = args
    frame = generate_frame(seed, index, two_row_plates=True)
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
    targets, lengths = encode_labels([text for _, text in samples])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, crops=crops, targets=targets, lengths=lengths)
    assert crops.shape[1:] == RECOGNISER_INPUT_HW
    return crops, targets, lengths


def encode_labels(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(targets (N, MAX_PLATE_CHARS) class ids padded with 0, lengths (N,))."""
    targets = np.zeros((len(texts), MAX_PLATE_CHARS), dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for k, text in enumerate(texts):
        encoded = encode_label(text)
        targets[k, : len(encoded)] = encoded
        lengths[k] = len(encoded)
    return targets, lengths


@lru_cache(maxsize=4)
def composite_sources(directories: tuple[Path, ...]) -> list[tuple[Path, tuple[float, float, float, float]]]:
    """Every plate box wide enough to composite over in the training part of the real photo sets."""
    return [
        (image.image_path, plate.box)
        for directory in directories
        for image in real_set_part(directory, TRAIN)
        for plate in image.plates
        if plate.box is not None and plate.box[2] - plate.box[0] >= MIN_COMPOSITE_WIDTH
    ]


def _composite_sample(args: tuple[int, int, tuple[Path, ...]]) -> tuple[np.ndarray, str]:
    seed, index, directories = args
    sources = composite_sources(directories)
    rng = np.random.default_rng([seed, index, 3])
    path, box = sources[int(rng.integers(len(sources)))]
    return composite_crop(path.read_bytes(), box, rng)


def composite_set(
    cache: Path, seed: int, count: int, directories: tuple[Path, ...], workers: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops of rendered plates composited into the real photos' plate boxes: (crops, targets, lengths)."""
    path = cache / f"composite_seed{seed}_n{count}.npz"
    if path.exists():
        data = np.load(path)
        return data["crops"], data["targets"], data["lengths"]
    items = [(seed, i, directories) for i in range(count)]
    samples = _generate(_composite_sample, items, workers, "composite crops")
    crops = np.stack([s[0] for s in samples])
    targets, lengths = encode_labels([text for _, text in samples])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, crops=crops, targets=targets, lengths=lengths)
    return crops, targets, lengths


def real_crops(
    directories: tuple[Path, ...], part: str = TRAIN, min_width: float = 0.0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """One part of real sets' plates that have a box at least `min_width` pixels wide and text (`?` for
    hidden characters), decoded as served: (grey images, one per plate, shared by the plates of a photo;
    boxes (N, 4) x1, y1, x2, y2; targets; lengths). A crop set's box is its whole crop; a photo set's
    plates are cut at the photo's own resolution, as serving cuts them. Cut to the recogniser input when
    sampled."""
    images, boxes, texts = [], [], []
    for directory in directories:
        for entry in real_set_part(directory, part):
            plates = [
                p
                for p in entry.plates
                if p.box is not None
                and p.box[2] - p.box[0] >= min_width
                and p.has_text
                and len(p.text) <= MAX_PLATE_CHARS
            ]
            if not plates:
                continue
            image = decode_encoded(entry.image_path.read_bytes())
            for plate in plates:
                images.append(image)
                boxes.append(plate.box)
                texts.append(plate.text)
    targets, lengths = encode_labels(texts)
    return images, np.array(boxes, np.float32).reshape(-1, 4), targets, lengths
