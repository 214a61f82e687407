#!/usr/bin/env bash
# The pair (detector 3, REC) at each detection_threshold: runs/eval/NAME_tT/cand/SET.json.
#   threshold_sweep.sh REC.onnx NAME "0.35 0.30 0.25 0.20" "uc3m romania open"
set -euo pipefail
cd "$(dirname "$0")/../../.."
for t in $3; do
  ANPR_PIPELINE__DETECTION_THRESHOLD=$t DET_VERSION=3 WHO=cand bash training/candidates/judging/eval_pair.sh \
    model_repository/plate_detector/3/model.onnx "$1" "${2}_t$t" "$4"
done
