"""Box edges of detector ONNX files against the labels on held-out real photos (>= 20 px plates).

usage: box_bias.py DET.onnx [DET.onnx ...]   (PYTHONPATH=server:training; REAL: the real data folder)
"""

import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from anpr.contract import DETECTOR_INPUT_HW
from anpr.vision.detection import decode_detections
from anpr.vision.letterbox import letterbox
from anpr.vision.nms import box_iou
from anpr_synth.real_sets import HELD_OUT
from anpr_training.real_data import load_real_photos

REAL = Path(os.environ.get("REAL", "../shared/datasets/real")) / "detector"
photos = load_real_photos(tuple(REAL / s for s in ("uc3m-lp", "romania-dashcam", "open-images")), HELD_OUT)
for path in sys.argv[1:]:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    rows = []
    for p in photos:
        x, t = letterbox(p.image, DETECTOR_INPUT_HW)
        b, s = sess.run(None, {name: x[None, None]})
        h, w = p.image.shape
        kept = decode_detections(b[0], s[0], t, (w, h), 0.35, 0.4)
        pred = np.array([d.box for d in kept], np.float32).reshape(-1, 4)
        lab = p.boxes[(p.boxes[:, 2] - p.boxes[:, 0]) >= 20]
        if not len(lab) or not len(pred):
            continue
        iou = box_iou(lab, pred)
        for i, j in enumerate(iou.argmax(1)):
            if iou[i, j] >= 0.5:
                L, P = lab[i], pred[j]
                lh, lw = L[3] - L[1], L[2] - L[0]
                rows.append(
                    ((P[3] - P[1]) / lh, (P[2] - P[0]) / lw, ((P[1] + P[3]) - (L[1] + L[3])) / 2 / lh, iou[i, j])
                )
    r = np.array(rows)
    height, width, centre, mean_iou = r.mean(axis=0)
    print(
        f"{path}: matched {len(r)}  height/label {height:.3f} (sd {r[:, 0].std():.3f})"
        f"  width/label {width:.3f} (sd {r[:, 1].std():.3f})  centre dy/h {centre:+.3f}  mean IoU {mean_iou:.3f}"
    )
