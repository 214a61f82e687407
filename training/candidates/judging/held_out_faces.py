"""Recogniser alone on crops drawn in the four faces no candidate trains on (a diagnostic).

usage: held_out_faces.py MODEL.onnx [MODEL.onnx ...]   (PYTHONPATH=server:training)
500 crops per face, rng [5050, face, i], UK face off; split decoding as served (0.3).
"""

import sys

import numpy as np
import onnxruntime as ort

import anpr_synth.plate_render as plate_render
from anpr.vision.ctc import decode_ctc
from anpr.vision.plate_formats import normalise_plate_text
from anpr_synth.scene import generate_plate_crop

FACES = (
    "/usr/share/fonts/opentype/urw-base35/URWGothic-Book.otf",
    "/usr/share/fonts/opentype/urw-base35/URWGothic-Demi.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSans-Regular.otf",
    "/usr/share/fonts/truetype/open-sans/OpenSans-Regular.ttf",
)
PER_FACE = 500

plate_render.UK_FACE_SHARE = 0.0
crops, labels, faces = [], [], []
for f, face in enumerate(FACES):
    plate_render.available_fonts = lambda kind="plate", face=face: (face,)
    for i in range(PER_FACE):
        crop, text = generate_plate_crop(np.random.default_rng([5050, f, i]))
        crops.append(crop)
        labels.append(normalise_plate_text(text))
        faces.append(f)
x = np.stack(crops)
x = x.reshape(len(crops), 1, 32, 128).astype(np.uint8)
results = {}
for path in sys.argv[1:]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    probs = np.concatenate([session.run(None, {name: x[k : k + 128]})[0] for k in range(0, len(x), 128)])
    right = np.array([decode_ctc(p, split_mass=0.3).text == t for p, t in zip(probs, labels)])
    results[path] = right
    per_face = [right[np.array(faces) == f].mean() for f in range(len(FACES))]
    print(
        f"{path}: exact {right.mean():.3f} ({right.sum()}/{len(right)}); per face "
        + " ".join(f"{v:.3f}" for v in per_face)
    )
if len(results) == 2:
    a, b = results.values()
    print(f"second vs first: +{int((b & ~a).sum())} -{int((a & ~b).sum())}")
