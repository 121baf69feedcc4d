#!/usr/bin/env bash
# One training chunk on the GPU host with the fast path, resumable across calls.
#   bash scripts/gpu/train-chunk.sh STAGE STEPS MINUTES [RUN_PARTS_DIR] [-- extra train args]
# RUN_PARTS_DIR (default checkpoints/next) holds ckpt.pt.partNNN of the run so far, carried with the
# call (or absent: a new run from configs/base.json). The chunk trains STAGE towards STEPS total
# steps for at most MINUTES on every GPU of the host (torchrun, DistributedDataParallel), then writes
# the run's slim checkpoint (fp16 weights only, the stage's EMA where it stopped early, ≤ 3 parts of
# 15 MiB: the 8-file return limit leaves no room for the optimiser state, so the next chunk starts
# AdamW afresh and train ramps its learning rate up again over the config's warm-up), and STAGE.tgz
# (this chunk's log, the run's loss log, the newest sample sheet) under $OUT.
# WARM=1 continues the run this host trained in its last call (/tmp/durian-run: the full checkpoint,
# optimiser state and EMA included), for chunks chained on a warm machine; RUN_PARTS_DIR is then not
# read. Without it the host's earlier run is removed first, so a carried checkpoint is never mixed
# with it.
# DEADLINE (Unix seconds, e.g. `export DEADLINE=$(( $(date +%s) + 585 ))` first thing in a device call):
# the chunk also stops 45 s before it, leaving time for the slim and the archive, so a chunk chained
# behind other work in one call ends with a checkpoint instead of being killed at the call's limit with
# none (session 12 lost a stage-1 chunk so, about 2.5 minutes of it: MINUTES counts from the first step, not from the
# call's start). With under 150 s to go it does not start (exit 3): a cold compile alone takes ~130 s.
# torch.compile's cache artifacts are kept on the host in .compile-cache/STAGE.bin (ignored), which a
# warm machine's next call loads. They are not returned or carried: the VAE stage's were 110 MB, over
# the 16 MiB a returned file and the 64 MiB a call may hold.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/out}"
stage="$1"; steps="$2"; minutes="$3"; parts="${4:-$root/checkpoints/next}"
shift $(( $# >= 4 ? 4 : $# )); [[ "${1:-}" == "--" ]] && shift
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
run=/tmp/durian-run
stop=()
if [[ -n "${DEADLINE:-}" ]]; then
  left=$(( DEADLINE - 45 - $(date +%s) ))
  (( left >= 150 )) || { echo "DEADLINE: ${left} s left before the slim's reserve; $stage not started" >&2; exit 3; }
  stop=(--stop-at $(( DEADLINE - 45 )))
fi
resume=()
if [[ -n "${WARM:-}" ]]; then
  compgen -G "$run/ckpt.pt*" > /dev/null || { echo "WARM=1: no run on this host to continue (a fresh machine?)" >&2; exit 2; }
  resume=(--resume)
else
  rm -rf "$run"; mkdir -p "$run"
  if compgen -G "$parts/ckpt.pt.part*" > /dev/null; then cp "$parts"/ckpt.pt.part* "$run/"; resume=(--resume); fi
fi
mkdir -p "$out"
case "$stage" in
  vae|parser) fast=(--batch-size 256 --pool 4096 --pool-refresh 32) ;;
  stage1) fast=(--batch-size 256 --pool 8192 --pool-refresh 32) ;;
  stage2) fast=(--batch-size 128 --pool 2048 --pool-refresh 8) ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
# CONFIG (default configs/base.json) starts a new run; WORKERS (default 12) data workers per GPU.
# Without a GPU (a check of this script on a CPU) one process runs, uncompiled
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
compiled=(--compile --compile-render --compile-cache "$root/.compile-cache/$stage.bin")
workers=${WORKERS:-12}
# (a small batch and pool and no data workers there: the GPU's pool of 8,192 renders and 12 workers
# would take the CPU many minutes to fill before the first step)
(( gpus > 0 )) || { gpus=1; compiled=(--device cpu); fast=(--batch-size 2 --pool 8 --pool-refresh 2); workers=${WORKERS:-0}; }
# the chunk's log, the run's loss log and its newest sample sheet go back as one file, $OUT/STAGE.tgz:
# two chunks chained in one call then return 3 checkpoint parts and 2 archives, within the 8-file limit
logs=$(mktemp -d)
cd "$root/tools/export"
torchrun --standalone --nproc-per-node "$gpus" -m durian_export.train --config "${CONFIG:-configs/base.json}" --stage "$stage" \
  --out "$run" "${resume[@]}" --steps "$steps" --max-minutes "$minutes" "${fast[@]}" --data-workers "$workers" \
  "${compiled[@]}" "${stop[@]}" --log-every 20 --eval-every 200 --save-every 100000 "$@" 2>&1 | tee "$logs/train-$stage.log" | grep -E '^\{"stage|Error|error' | tail -40
python3 -m durian_export.checkpoint slim --run "$run" --out "$out" --ema --trained-only
cp "$run/loss.jsonl" "$logs/loss-$stage.jsonl" 2>/dev/null
ls "$run"/samples-*.png > /dev/null 2>&1 && cp "$(ls "$run"/samples-*.png | tail -1)" "$logs/"
tar czf "$out/$stage.tgz" -C "$logs" . && rm -rf "$logs"
ls -la "$out"
