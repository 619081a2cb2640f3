#!/usr/bin/env bash
# The built-in demo (`make demo`): the main job end to end, with the same commands a real run
# uses, on SYNTHETIC faces and a RANDOM-WEIGHT iresnet100. Its numbers show that the pipeline
# works, not how well a face recognizer does. Usage: Deploy/demo.sh [OUTDIR] (default: demo)
set -euo pipefail

bin=${MAGFLEET:-.build/release/magfleet}
out=${1:-demo}
workers=${MAGFLEET_DEMO_WORKERS:-2}

banner() { printf '\n== %s\n' "$*"; }
start=$(date +%s)

banner "magfleet demo: SYNTHETIC data and RANDOM WEIGHTS (not a real model, not real faces)"
"$bin" doctor

banner "1. a synthetic face-like data set: identities with jittered images, plus distractors"
rm -rf "$out"
"$bin" demo data --out "$out"

banner "2. a random-weight iresnet100 checkpoint (recorded as random weights everywhere)"
"$bin" model random --arch iresnet100 --seed 1 --out "$out/random-iresnet100.pth"

banner "3. a coordinator and $workers local workers over ZeroMQ on loopback, merged into an HDF5 store"
"$bin" extract --list "$out/images.list" --root "$out/images" --model "$out/random-iresnet100.pth" \
  --out "$out/features.h5" --workers "$workers" --threads 1 --shard-size 16
"$bin" info "$out/features.h5"

banner "4. nearest faces of one image, by its stored embedding"
"$bin" query "$out/features.h5" --path person_000/0.jpg --top 5

banner "5. the reducer: verification, identification, pairs and the classification head"
"$bin" pairs make "$out/features.h5" --out "$out/pairs.json" --positives 500 --negatives 1000 --seed 7
"$bin" reduce "$out/features.h5" --out "$out/report" --pairs "$out/pairs.json" --threshold best --head \
  --root "$out/images"

banner "done in $(( $(date +%s) - start )) s (SYNTHETIC data, RANDOM WEIGHTS)"
echo "report: $out/report/report.html (also report.md, report.json; the misclassified pairs' faces in pair-errors.html)"
echo "store:  $out/features.h5  (python: h5py.File('$out/features.h5')['embeddings'][:])"
