#!/usr/bin/env bash
# The whole GPU check of the WebGPU engine in one run, for the GPU machine (see ../shared/gpu/README.md):
#   bash ../shared/gpu/pack.sh            # here, after npm ci && npm run build
#   device run, carry [".device"]:  bash .device/run.sh bash bench/gpu-check.sh
# Everything it measures goes under $OUT (the device tool brings it back). Try it on lavapipe first:
#   OUT=/tmp/gpu-check GPU_CHECK_IMAGES=1280 bash bench/gpu-check.sh
set -u
out=${OUT:-/tmp/gpu-check}
images=${GPU_CHECK_IMAGES:-12800}
mkdir -p "$out"
python=$(command -v python3 || echo /usr/bin/python3)
{
  date -u; uname -a; node --version
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1
} > "$out/machine.txt" 2>&1
# Full MNIST for the default model, unless GPU_CHECK_IMAGES is below 12800 (lavapipe trains ~230 images/s).
limit=()
[ "$images" -lt 12800 ] && limit=(--limit-train "$images")
# 1. The README's command: 2 epochs, the backend and engine lines.
timeout 300 node bin/vae train --backend webgpu --epochs 2 "${limit[@]}" --out /tmp/gpu-check-run > "$out/train.txt" 2>&1
echo "train exit $?" >> "$out/train.txt"
# 2. The bench: the default model, sampling, and the GPU section (MLP and conv at batch 128 and 1024,
#    dispatches per step, PyTorch CUDA beside them).
timeout 480 node bench/run.js --backend webgpu --python "$python" --torch-threads 2 --gpu-images "$images" "${limit[@]}" \
  --out "$out/bench.json" > "$out/bench.txt" 2>&1
echo "bench exit $?" >> "$out/bench.txt"
# 3. evaluate --iw 1000 of the README's run: the importance samples decoded on the GPU, then on the CPU (same NLL).
iw_test=()
[ "$images" -lt 12800 ] && iw_test=(--limit-test 200)
for backend in webgpu wasm; do
  start=$(date +%s%N)
  timeout 240 node bin/vae --backend "$backend" evaluate --iw 1000 "${iw_test[@]}" --checkpoint /tmp/gpu-check-run > "$out/iw-$backend.txt" 2>&1
  echo "exit $? after $(( ($(date +%s%N) - start) / 1000000 )) ms" >> "$out/iw-$backend.txt"
done
# 4. One epoch of every model the GPU engine trains, on the GPU: the engine line and the losses (the CPU's are in
#    the tests); --limit-train keeps each short.
for model in "--model cvae" "--model cvae --condition left-half" "--model sae" "--model vqvae" "--model m2" "--model m1m2 --m1 /tmp/gpu-check-run" "--iw-train 5" "--arch conv"; do
  name=$(echo "$model" | tr -d ' -' | tr '/' '_')
  timeout 120 node bin/vae train --backend webgpu $model --epochs 1 --limit-train 6400 --limit-test 1000 --out "/tmp/gpu-check-$name" \
    > "$out/family-$name.txt" 2>&1
  echo "exit $?" >> "$out/family-$name.txt"
done
tail -n 30 "$out/bench.txt"
grep -h "NLL\|exit" "$out"/iw-*.txt
grep -h "^engine\|^epoch 1/\|exit" "$out"/family-*.txt
