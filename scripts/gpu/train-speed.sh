#!/usr/bin/env bash
# Training throughput on the GPU host, before and after the fast data path, in one call.
#   bash scripts/gpu/train-speed.sh single [GPU] [STAGES]  # one GPU: the old loop (.bench-old: the package before
#                                                         # the pool, if present) and the new
#   bash scripts/gpu/train-speed.sh ddp N    # N GPUs, DistributedDataParallel, the new loop
# Writes JSON reports and logs under $OUT (or /tmp/out). The "before" figures need a copy of the
# package as it was: `mkdir .bench-old && git archive 93129b1 tools/export | tar -x -C .bench-old`,
# carried (.bench-old is ignored).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/out}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
cd "$root/tools/export"
cfg=configs/base.json
what="${1:-single}"

# the settings of the fast path per stage: batch per rank, pool size, fresh samples per step
pool_args() {
  case "$1" in
    vae|parser) echo "--batch-size 256 --pool 4096 --pool-refresh 32" ;;
    stage1) echo "--batch-size 256 --pool 8192 --pool-refresh 32" ;;
    # 8-frame clips, as the "before" figure was measured; batch 256 of them is the 2,048 frames a step
    # that training's 16-frame clips at batch 128 make (scripts/gpu/train-chunk.sh)
    stage2) echo "--batch-size 256 --pool 4096 --pool-refresh 16 frames=8" ;;
  esac
}

if [[ "$what" == single ]]; then
  gpu="${2:-0}"
  stages="${3:-vae parser stage1 stage2}"
  if [[ -d "$root/.bench-old/tools/export" && -z "${SKIP_BEFORE:-}" ]]; then
    # before: the unchanged loop, its recipe (batch 64, renders every step, eager); .bench-old holds
    # `git archive 93129b1 tools/export`, whose config trained stage 2 on 8-frame clips
    (cd "$root/.bench-old/tools/export" && CUDA_VISIBLE_DEVICES=$gpu python3 -m durian_export.bench_train \
      --config $cfg --batch-size 64 --steps 10 --stages "${stages// /,}" 2>&1 | tee "$out/before.log" | grep '^{"stage')
  fi
  for stage in $stages; do
    CUDA_VISIBLE_DEVICES=$gpu python3 -m durian_export.bench_train --config $cfg --stages $stage --mode pool \
      --compile --compile-render --data-workers 12 --steps 30 --warmup 4 $(pool_args $stage) --sync-debug 3 \
      --json-out "$out/after-$stage.json" 2>&1 | tee "$out/after-$stage.log" | grep '^{"stage'
  done
elif [[ "$what" == ddp ]]; then
  n="${2:-4}"
  for stage in ${3:-stage1}; do
    torchrun --standalone --nproc-per-node "$n" -m durian_export.bench_train --config $cfg --stages $stage \
      --mode pool --compile --compile-render --data-workers 12 --steps 30 --warmup 4 $(pool_args $stage) \
      --json-out "$out/ddp$n-$stage.json" 2>&1 | tee "$out/ddp$n-$stage.log" | grep '^{"stage'
  done
fi
