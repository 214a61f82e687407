"""`make demo`: replays synthetic camera feeds through the plate pipeline and prints the reads.

Plate text is printed here because the operator ran the demo on synthetic plates to see it.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from anpr.config import load_settings
from anpr.inference.onnxruntime_models import OnnxRuntimeModels
from anpr.inference.pipeline import read_plates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--frames-per-camera", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)

    from anpr_training.synth import generate_frame

    print(f"drawing {args.cameras} synthetic camera feeds x {args.frames_per_camera} frames ...")
    feeds = [
        (camera, generate_frame(seed=9000 + camera, index=i))
        for i in range(args.frames_per_camera)
        for camera in range(args.cameras)
    ]
    settings = load_settings().pipeline
    models = OnnxRuntimeModels(settings.detector_path, settings.recogniser_path, threads=2)
    print(f"{'camera':>6} {'frame':>5}  {'read':<10} {'conf':>5}  {'truth':<10} ok")
    started = time.perf_counter()
    correct = total = 0
    for start in range(0, len(feeds), args.batch_size):
        batch = feeds[start : start + args.batch_size]
        decoded = [
            cv2.cvtColor(cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            for _, _, f in batch
        ]
        for (camera, index, frame), reads in zip(batch, read_plates(models, decoded, settings)):
            truths = {p.text for p in frame.plates}
            for read in reads:
                ok = read.text in truths
                print(
                    f"{camera:>6} {index:>5}  {read.text:<10} {read.confidence:5.2f}  "
                    f"{(read.text if ok else '/'.join(sorted(truths)) or '-'):<10} {'yes' if ok else 'NO'}"
                )
            correct += len(truths & {r.text for r in reads})
            total += len(truths)
    seconds = time.perf_counter() - started
    print(
        f"\n{len(feeds)} frames in {seconds:.1f} s = {len(feeds) / seconds:.1f} frames/s (decode + detect + read, "
        f"ONNX Runtime on CPU); {correct}/{total} plates read exactly"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
