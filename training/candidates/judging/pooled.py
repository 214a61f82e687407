"""pooled.py DIR...: pooled found / false positives over uc3m, romania, open (held out >= 20 px); uc3m visible; 7474."""

import json
import os
import sys

for d in sys.argv[1:]:
    found = fp = plates = 0
    sets = {s: json.load(open(f"{d}/{s}.json")) for s in ("uc3m", "romania", "open")}
    for j in sets.values():
        hit = round(j["detection_recall"] * j["plates_with_box"])
        found += hit
        fp += j["detections"] - hit
        plates += j["plates_with_box"]
    u = sets["uc3m"]
    synth = f"{d}/synth_7474.json"
    s7474 = f"{json.load(open(synth))['plate_accuracy']:.4f}" if os.path.exists(synth) else "-"
    print(
        f"{d}: pooled {found}/{fp} of {plates}; uc3m visible {u['plate_accuracy_visible']:.3f} "
        f"({round(u['plate_accuracy_visible'] * u['plates_with_text'])}); 7474 {s7474}"
    )
