#!/usr/bin/env bash
# The whole GPU check of the WebGPU engine in one run, for the GPU machine (see ../shared/gpu/README.md):
#   npm ci && npm run build && bash ../shared/gpu/pack.sh      # here
#   device run, carry [".device"]:  bash .device/run.sh bash bench/gpu-check.sh
# Everything it measures goes under $OUT (the device tool brings back what is there, even after a timeout). The
# parts run in order of importance, each with its own time limit, and a part is skipped when the whole check's
# budget (GPU_CHECK_SECONDS, default 400) is spent. Try it on lavapipe first (64x64 colour at batch 16 there: a
# step of 128 takes a minute on lavapipe):
#   OUT=/tmp/gpu-check GPU_CHECK_IMAGES=640 GPU_CHECK_PICTURES=60 GPU_CHECK_ROWS=mlp:128,conv28:128,conv64x3:16 \
#     GPU_CHECK_CONV64_BATCHES=16 GPU_CHECK_SECONDS=1200 bash bench/gpu-check.sh
# GPU_CHECK_ONLY=matrix,half (part names, shell patterns) runs only those parts: for a session whose GPU time goes
# to what an earlier session's budget skipped (a part that reads another's files finds none: the summary says so).
set -u
out=${OUT:-/tmp/gpu-check}
images=${GPU_CHECK_IMAGES:-60000}
# The conv64x3 rows' folder of generated colour photographs, and the rows (workload:batch) of the bench's table.
pictures=${GPU_CHECK_PICTURES:-50000}
rows=${GPU_CHECK_ROWS:-mlp:128,mlp:1024,conv28:128,conv28:1024,conv64x3:128,conv64x3:512}
photos=/tmp/gpu-check-photos-$pictures
conv64_batches=${GPU_CHECK_CONV64_BATCHES:-128,512}
deadline=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-400} ))
mkdir -p "$out"
# The tuner's picks, kept where they come back with the rest (a file per GPU identity: robustness off is another);
# the parts after the first run of a row take them untimed. Afresh each check, as on the GPU machine.
export VAE_GPU_TUNE_CACHE="$out/gpu-tune"
rm -rf "$VAE_GPU_TUNE_CACHE"
# The check's run folders, afresh each time (a second run of the check on the same machine would find them taken).
runs=/tmp/gpu-check-runs
rm -rf "$runs"
mkdir -p "$runs"
python=$(command -v python3 || echo /usr/bin/python3)
# part NAME SECONDS COMMAND...: runs it with stdout and stderr in $out/NAME.txt, at most SECONDS and never past the
# deadline (then stopped, as Ctrl-C would: vae saves its run; killed 10 s later if still there: exit 137); skipped
# when under 10 s are left, or when GPU_CHECK_ONLY (shell patterns, comma-separated: "matrix,half,profile-conv64-*")
# names other parts: a later session runs what an earlier one's budget left out.
part() {
  local name=$1 cap=$2 left wanted=""
  shift 2
  if [ -n "${GPU_CHECK_ONLY:-}" ]; then
    local patterns pattern
    IFS=, read -ra patterns <<< "$GPU_CHECK_ONLY"
    for pattern in "${patterns[@]}"; do
      # shellcheck disable=SC2053
      [[ $name == $pattern ]] && wanted=1
    done
    if [ -z "$wanted" ]; then echo "skipped: not in GPU_CHECK_ONLY ($GPU_CHECK_ONLY)" > "$out/$name.txt"; return; fi
  fi
  left=$(( deadline - $(date +%s) ))
  if [ "$left" -lt 10 ]; then echo "skipped: the check's time was spent" > "$out/$name.txt"; return; fi
  [ "$cap" -gt "$left" ] && cap=$left
  local start=$(date +%s%N)
  timeout -k 10 "$cap" "$@" > "$out/$name.txt" 2>&1
  echo "exit $? after $(( ($(date +%s%N) - start) / 1000000 )) ms (limit $cap s)" >> "$out/$name.txt"
}
# rows_matching PATTERN: the check's rows (workload:batch) that grep PATTERN matches, comma-separated.
rows_matching() {
  echo "$rows" | tr ',' '\n' | grep "$1" | paste -sd, -
}
# bench NAME SECONDS FLAGS...: a part of bench/run.js's GPU section alone (vae's rows, then PyTorch CUDA's unless
# --no-torch) on the check's MNIST images and folder of photographs, its results in $out/NAME.json.
bench() {
  local name=$1 cap=$2
  shift 2
  part "$name" "$cap" node bench/run.js --backend webgpu --gpu-only --gpu-images "$images" --gpu-pictures "$pictures" \
    --gpu-folder-dir "$photos" --out "$out/$name.json" "$@"
}
# The results files of the issue's table so far (part 1's rows and PyTorch eager and CUDA-graph, part 1b's compiled
# PyTorch), comma-separated.
table_files() {
  ls "$out"/bench-*.json "$out"/compile-*.json 2>/dev/null | paste -sd, -
}
# The issue's table as bench/README.md records it, in $out/table.md: written as soon as the table's parts end (and
# again at the end).
markdown_table() {
  local tables
  tables=$(table_files)
  [ -n "$tables" ] && node bench/run.js --gpu-table "$tables" --markdown > "$out/table.md" 2>&1
}
{
  date -u; uname -a; node --version
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1
  # torch.compile's Inductor writes Triton kernels, and Triton builds its launcher with a C compiler and Python.h:
  # without them the compiled column fails (its error is on the table's line), and this says why.
  "$python" -c 'import triton; print("triton", triton.__version__)' 2>&1 | tail -1
  for c in cc gcc g++; do echo "$c: $(command -v $c || echo none)"; done
  "$python" -c 'import os, sysconfig; print("Python.h:", os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>&1
  # What Dawn says of the adapter (the engine line names it from these), by default and with unsafe APIs: its
  # features (shader-f16? subgroups?), and whether a shader-f16 device compiles f16 storage with f32 sums.
  timeout 30 node bench/gpu-features.js 2>&1 | grep -v '^Warning'
} > "$out/machine.txt" 2>&1
# 0. Whether WGSL reaches the GPU's tensor cores (bench/gpu-matrix.js): Dawn's subgroup matrices with its unsafe APIs
#    and vulkan_enable_f16_on_nvidia, f16 operands summed in f32 (as PyTorch's TF32 convolutions round theirs): a
#    GEMM staged from f32 through workgroup memory (in 64x64 and 128x128 tiles) and one from f16 storage, checked to
#    the bit on values exact in f16, their rounding measured, then timed on a 4096 square, a convolution's forward
#    at batch 512 and a dense layer at 8,192 rows, against the fp32 peak. What a mixed-precision form would start from;
#    ~15 s, first: the rest of the check stands on what it says for the next change.
part matrix 30 node bench/gpu-matrix.js
# Under 12800 images (lavapipe trains the MLP at ~400 images/s) every run is cut to that many; the default is all of MNIST.
limit=()
[ "$images" -lt 12800 ] && limit=(--limit-train "$images" --limit-test 200)
# 1. The bench's GPU section: the six rows (MLP and 28x28 conv on MNIST at batch 128 and 1024, the 64x64 colour conv
#    VAE with --likelihood gaussian on $pictures generated photographs at 128 and 512; 2 epochs each), dispatches per
#    step, the folder's first run timed, and PyTorch CUDA on the same models, eager and as one CUDA graph per step.
#    A part per workload (bench-mlp, bench-conv28, bench-conv64x3), so that one running out of time loses only its own rows.
#    Each row's first run tunes its ~20 products in up to 9 forms (~150 pipelines compiled by the driver): given 12 s
#    rather than 4, so that the table's rows are tuned whole (the picks kept serve every later part, untimed).
for workload in mlp conv28 conv64x3; do
  wrows=$(rows_matching "^$workload:")
  [ -z "$wrows" ] && continue
  case $workload in mlp) cap=60 ;; conv28) cap=80 ;; *) cap=200 ;; esac
  VAE_GPU_TUNE_SECONDS=${GPU_CHECK_TUNE_SECONDS:-12} bench "bench-$workload" "$cap" --gpu-rows "$wrows" --python "$python" \
    --torch-modes eager,cuda-graph
done
# 1b. PyTorch's torch.compile(mode="reduce-overhead") on the same workloads: the table's last column, before all else
#     (compiling takes a while: a part each, its rows alone, bench/run.js --torch-only, which stops PyTorch 10 s
#     before the part's end and keeps what it finished).
for workload in mlp conv28 conv64x3; do
  wrows=$(rows_matching "^$workload:")
  [ -z "$wrows" ] && continue
  cap=$([ $workload = mlp ] && echo 90 || echo 100)
  left=$(( deadline - $(date +%s) ))
  [ "$cap" -gt "$left" ] && cap=$left
  bench "compile-$workload" "$cap" --gpu-rows "$wrows" --python "$python" --torch-only --torch-modes compile \
    --torch-seconds $(( cap > 20 ? cap - 10 : 10 ))
done
markdown_table
# 1d. The products in half precision (VAE_GPU_F16=1, an experiment: f16 operands summed in f32 on the tensor cores,
#     where part 0 found f16 subgroup matrices; else rounded to f16 and multiplied in fp32, no faster): the rows at
#     the larger batch (the whole list on the lavapipe trial), where the products are the step, against part 1's fp32.
#     Their engine line says which; their -ELBO is not the fp32 run's to the bit.
larger=$(rows_matching ':1024$\|:512$')
VAE_GPU_F16=1 bench half 90 --gpu-rows "${larger:-$rows}" --no-torch --gpu-folder-reuse
# 1c. What the tuner buys (it chose the forms of part 1's products: the table's engine lines say which): the rows at
#     batch 128 again (16 for the lavapipe trial) with each product in its plain form (VAE_GPU_TUNE=0; on lavapipe its own form), a part each.
#     Right after the table, since the table's vae figures stand on the tuner's choice.
for row in $(rows_matching ':128$\|:16$' | tr ',' ' '); do
  cap=40; [ "${row%%:*}" = conv64x3 ] && cap=60
  VAE_GPU_TUNE=0 bench "untuned-${row%%:*}" "$cap" --gpu-rows "$row" --no-torch --gpu-folder-reuse
done
# 2. The README's command: 2 epochs of MNIST, the backend and engine lines.
part train 60 node bin/vae train --backend webgpu --epochs 2 "${limit[@]}" --out "$runs/run"
# 2b. The issue's acceptance on this GPU, the 28x28 conv VAE on 6,400 images (640 on the lavapipe trial). --seed gives
#     the same run twice (tuned: part 1's picks kept), and once more with every product in its plain form
#     (VAE_GPU_TUNE=0): the same metrics, weights and optimizer state to the bit (bench/same-run.js). A GPU run resumed
#     on the CPU for its second epoch, and a CPU run resumed on the GPU, beside 2 epochs on the CPU alone (the tests
#     ask for the test -ELBO within 0.5 nats).
accept=(--arch conv --limit-train $(( images < 6400 ? images : 6400 )) --limit-test 500 --seed 3)
for r in a b; do part "seed-$r" 40 node bin/vae train --backend webgpu "${accept[@]}" --epochs 1 --out "$runs/seed-$r"; done
VAE_GPU_TUNE=0 part seed-plain 40 node bin/vae train --backend webgpu "${accept[@]}" --epochs 1 --out "$runs/seed-plain"
part seed-same 10 node bench/same-run.js "$runs/seed-a" "$runs/seed-b" "$runs/seed-plain"
part resume-gpu-cpu 60 sh -c "node bin/vae train --backend webgpu ${accept[*]} --epochs 1 --out $runs/g-c && node bin/vae train --backend wasm --resume $runs/g-c --epochs 2"
part resume-cpu-gpu 60 sh -c "node bin/vae train --backend wasm ${accept[*]} --epochs 1 --out $runs/c-g && node bin/vae train --backend webgpu --resume $runs/c-g --epochs 2"
part resume-cpu 60 node bin/vae train --backend wasm "${accept[@]}" --epochs 2 --out "$runs/c-c"
# 3. Where a step's time goes: each kernel timed on the GPU (VAE_GPU_PROFILE=1), one epoch of each workload, with
# the TFLOP/s of the products against the H100/H200 (SXM) fp32 peak without tensor cores, 67 TFLOP/s.
# profile NAME WORKLOAD BATCH: one epoch of WORKLOAD (mlp, conv, conv64) at BATCH, each kernel timed, in $out/NAME.txt.
profile() {
  local name=$1 workload=$2 batch=$3 what
  if [ "$workload" = conv64 ]; then
    # 12,800 photographs: 25 steps at batch 512, of which the profile counts 15 (not the first 10).
    what=(--arch conv --image-size 64 --likelihood gaussian --data "$photos" --limit-train $(( images < 12800 ? images : 12800 )))
  else
    what=(--arch "$workload" --limit-train "$images")
  fi
  VAE_GPU_PROFILE=1 VAE_GPU_PEAK_TFLOPS=${GPU_CHECK_PEAK_TFLOPS:-67} part "$name" 30 node bin/vae train --backend webgpu "${what[@]}" \
    --batch-size "$batch" --epochs 1 --limit-test 200 --out "$runs/$name"
}
profiles=("mlp 128" "mlp 1024" "conv 128" "conv 1024")
for batch in ${conv64_batches//,/ }; do profiles+=("conv64 $batch"); done
for run in "${profiles[@]}"; do
  set -- $run
  profile "profile-$1-$2" "$1" "$2"
done
# 3c. The largest row profiled with half products (VAE_GPU_F16=1: on the tensor cores where part 0 found f16
#     subgroup matrices): each product's time and TFLOP/s (still against the fp32 peak) beside part 3's fp32 profile.
VAE_GPU_F16=1 profile "profile-f16-conv64-${conv64_batches##*,}" conv64 "${conv64_batches##*,}"
# 3b. Steps per submission: the 28x28 rows at batch 128 again with each step submitted alone (as before 2026-12-05),
#     against part 1's four to a submission.
VAE_GPU_STEPS_PER_SUBMISSION=1 bench one-per-submission 45 --gpu-rows mlp:128,conv28:128 --no-torch
# 4. Dawn's robustness off (VAE_GPU_UNCHECKED=1, an experiment: the kernels' indices into workgroup memory not
#     clamped, the same numbers): the rows at the larger batch (the whole list on the lavapipe trial), where the
#     products' inner loops are the step, against part 1's.
VAE_GPU_UNCHECKED=1 bench unchecked 90 --gpu-rows "${larger:-$rows}" --no-torch --gpu-folder-reuse
# 4b. The 64x64x3 row at 512 (16 on the lavapipe trial) streamed from the folder's cache (--data-memory 100: a set
#     larger than its budget, as a CelebA-sized one is), each batch uploaded as bytes, against part 1's held set (the
#     lavapipe trial's 60 photographs fit the budget: held there).
part streamed 90 node bin/vae train --backend webgpu --arch conv --image-size 64 --likelihood gaussian --data "$photos" \
  --data-memory 100 --batch-size "${conv64_batches##*,}" --epochs 2 --limit-test 200 --out "$runs/streamed"
# 5. One epoch of every other model the GPU engine trains (the CPU's numbers are in the tests).
for model in "--model cvae" "--model cvae --condition left-half" "--model sae" "--model vqvae" "--model m2" "--model m1m2 --m1 $runs/run" "--iw-train 5"; do
  name=$(echo "$model" | tr -d ' -' | tr '/' '_')
  part "family-$name" 30 node bin/vae train --backend webgpu $model --epochs 1 --limit-train 6400 --limit-test 1000 --out "$runs/$name"
done
# 6. evaluate --iw 1000 of the README's run on 1000 test images: decoded on the GPU, then on the CPU (same NLL).
for backend in webgpu wasm; do
  part "iw-$backend" 40 node bin/vae --backend "$backend" evaluate --iw 1000 --limit-test "${GPU_CHECK_IW_IMAGES:-1000}" --checkpoint "$runs/run"
done
# The issue's table: part 1's rows (vae, eager and CUDA-graph PyTorch) with part 1b's compiled PyTorch, the ratio
# against the fastest; then how each of those parts ended.
tables=$(table_files)
[ -n "$tables" ] && node bench/run.js --gpu-table "$tables"
markdown_table
grep -h "^exit\|^bench:" "$out"/bench-*.txt "$out"/compile-*.txt
grep -h "^backend\|^engine\|^epoch 2/\|^exit" "$out/train.txt"
grep -H "kernels on the GPU\|wall time per step\|dispatches per step\|five largest" "$out"/profile-*.txt
# The kernels' share of a training step (the issue's target: 85% at batch 128): each profile's kernel time per step
# against its bench row's step (batch / samples/s: the steps as training runs them, not a pass per kernel).
"$python" - "$out" <<'PY'
import json, os, re, sys
out = sys.argv[1]
runs = []
for name in os.listdir(out):
    if re.match(r"bench-\w+\.json$", name):
        runs += json.load(open(os.path.join(out, name)))["gpu"]["runs"]
names = {"mlp": "mlp", "conv": "conv28", "conv64": "conv64x3"}
for name in sorted(os.listdir(out)):
    m = re.match(r"profile-(\w+)-(\d+)\.txt$", name)
    kernels = m and re.search(r"^\s*([\d.]+)\s+kernels on the GPU", open(os.path.join(out, name)).read(), re.M)
    row = m and next((r for r in runs if r["workload"] == names.get(m[1]) and r["batch"] == int(m[2]) and r.get("samplesPerSec")), None)
    if kernels and row:
        step = 1e6 * row["batch"] / row["samplesPerSec"]
        print("%s, batch %d: kernels %.0f us of the bench's %.0f us step, %.0f%%" % (row["workload"], row["batch"], float(kernels[1]), step,
              100 * float(kernels[1]) / step))
PY
echo "--seed on this GPU (twice as it runs by default, tuned on a GPU; once with VAE_GPU_TUNE=0):"; grep -h "^engine\|^exit" "$out"/seed-{a,b,plain}.txt; grep -hv "^exit" "$out/seed-same.txt"
echo "resumed across engines (epoch 2's test -ELBO: GPU then CPU, CPU then GPU, CPU alone):"
grep -h "^engine\|^epoch 2/\|^exit\|^vae:" "$out"/resume-gpu-cpu.txt "$out"/resume-cpu-gpu.txt "$out"/resume-cpu.txt
echo "tensor cores from WGSL (f16 subgroup matrices, f32 sums):"; grep -h '"configs"\|"check"\|"tflops"\|"error"\|^gpu-matrix\|^exit' "$out/matrix.txt"
echo "half-precision products (VAE_GPU_F16=1), against part 1's fp32:"; grep -h ", batch \|^exit" "$out/half.txt"
echo "one step a submission:"; grep -h "batch 128\|^exit" "$out/one-per-submission.txt"
echo "untuned (every product plain; on a software adapter, in its own form):"; grep -h "batch 128 \|batch 16 \|^exit" "$out"/untuned-*.txt
echo "robustness off:"; grep -h ", batch \|^exit" "$out/unchecked.txt"
echo "streamed, batches as bytes:"; grep -h "^data\|^engine\|^epoch 2/\|^exit" "$out/streamed.txt"
grep -h "NLL\|^exit" "$out"/iw-*.txt
grep -h "^engine\|^epoch 1/\|^exit\|^vae:" "$out"/family-*.txt
