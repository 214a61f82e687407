#!/usr/bin/env bash
# Evaluates a candidate pair beside version 3, the way training/candidates/README.md's tables are made.
#
#   eval_pair.sh DET.onnx REC.onnx TAG "SETS"
#     SETS: any of synth_7474 uc3m romania open croatia mixed (croatia and mixed are validation:
#     read once per decision, after the rule has passed)
#     env: WHO=base|cand|both (default both); DET_VERSION / REC_VERSION=3 judges a single model;
#          ANPR_PIPELINE__* settings (e.g. ANPR_PIPELINE__DETECTION_THRESHOLD) apply as in the server;
#          REAL (default ../shared/datasets/real), SYNTH_7474 (default runs/sets/synth_7474, made by
#          `anpr models synth --count 1500 --seed 7474` with the generator of 92976ef).
# Builds /tmp/cand_repo_TAG (version 3 as shipped, version 4 = the given files) and writes
# runs/eval/base/SET.{json,errors} (cached) and runs/eval/TAG/cand/SET.{json,errors}.
set -euo pipefail
cd "$(dirname "$0")/../../.."
DET=$1; REC=$2; TAG=$3; SETS=$4; WHO=${WHO:-both}
REAL=${REAL:-../shared/datasets/real}
REPO=/tmp/cand_repo_$TAG
rm -rf "$REPO"; mkdir -p "$REPO"
for m in plate_detector plate_recogniser; do
  mkdir -p "$REPO/$m/3" "$REPO/$m/4"
  cp model_repository/$m/config.pbtxt "$REPO/$m/"
  cp model_repository/$m/3/* "$REPO/$m/3/"
  cp model_repository/$m/3/model.py "$REPO/$m/4/"
done
cp "$DET" "$REPO/plate_detector/4/model.onnx"
cp "$REC" "$REPO/plate_recogniser/4/model.onnx"
args_for() {
  case $1 in
    synth_7474) echo "${SYNTH_7474:-runs/sets/synth_7474}" ;;
    uc3m) echo "$REAL/detector/uc3m-lp --split held-out --min-plate-width 20" ;;
    romania) echo "$REAL/detector/romania-dashcam --split held-out --min-plate-width 20" ;;
    open) echo "$REAL/detector/open-images --split held-out --min-plate-width 20" ;;
    croatia) echo "$REAL/validation/croatia-phone" ;;
    mixed) echo "$REAL/validation/mixed-plates" ;;
    *) echo "unknown set $1" >&2; exit 2 ;;
  esac
}
if [[ $WHO != cand ]] && env | grep -q '^ANPR_PIPELINE__'; then
  echo "runs/eval/base caches version 3 at the shipped settings: unset ANPR_PIPELINE__* or use WHO=cand" >&2
  exit 2
fi
for s in $SETS; do
  if [[ $WHO != cand ]]; then
    out=runs/eval/base; mkdir -p $out
    [[ -f $out/$s.json ]] || .venv/bin/anpr models eval $(args_for $s) --model-repository "$REPO" \
      --detector-version 3 --recogniser-version 3 --quiet --json $out/$s.json --errors $out/$s.errors > $out/$s.log 2>&1
  fi
  if [[ $WHO != base ]]; then
    out=runs/eval/$TAG/cand; mkdir -p $out
    .venv/bin/anpr models eval $(args_for $s) --model-repository "$REPO" \
      --detector-version ${DET_VERSION:-4} --recogniser-version ${REC_VERSION:-4} --quiet --json $out/$s.json --errors $out/$s.errors > $out/$s.log 2>&1
  fi
done
