#!/usr/bin/env bash
# One epoch of every family the WebGPU engine trains, on the machine's adapter (lavapipe here), printing each run's
# engine line (dispatches per step) and its metrics without the timings: a change that must not move the GPU's
# numbers (a refactor of src/engine/webgpu/) prints the same file before and after, to the last digit.
#   bash bench/gpu-golden.sh > before.txt; (change); bash bench/gpu-golden.sh > after.txt; diff before.txt after.txt
# Takes ~6 minutes on lavapipe (2 cores). Needs `npm run build` first (it runs dist/ through bin/vae).
set -u
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
small=(--epochs 1 --limit-train 512 --limit-test 128 --seed 7)
runs=(
  "vae-mlp|"
  "vae-conv|--arch conv --limit-train 192 --batch-size 64"
  "vae-gaussian|--likelihood gaussian"
  "vae-dynamic|--binarize dynamic"
  "iw-train|--iw-train 3"
  "cvae-label|--model cvae"
  "cvae-label-iw|--model cvae --iw-train 2"
  "cvae-region|--model cvae --condition left-half"
  "ae|--model ae"
  "dae|--model dae"
  "sae|--model sae"
  "vqvae|--model vqvae"
  "m2|--model m2 --labeled 100"
  "m1m2|--model m1m2 --m1 $work/vae-mlp --labeled 100"
)
for run in "${runs[@]}"; do
  name=${run%%|*}
  # shellcheck disable=SC2206
  flags=(${run#*|})
  echo "== $name: ${flags[*]}" | sed "s|$work|RUN|g"
  node bin/vae train --backend webgpu "${small[@]}" "${flags[@]}" --out "$work/$name" 2>&1 | grep -E '^(engine|vae):' | sed -E 's/webgpu \([^)]*\)+/webgpu (adapter)/'
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
    for (const l of lines) { const m = JSON.parse(l); delete m.seconds; delete m.samplesPerSec; delete m.time; console.log(JSON.stringify(m)); }
  ' "$work/$name/metrics.jsonl" 2>&1
done
