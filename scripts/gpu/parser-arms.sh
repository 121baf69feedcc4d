#!/usr/bin/env bash
# Parser arms side by side on one GPU, each continuing the same carried checkpoint with its own recipe
# overrides, e.g. with and without the degradations (parser_degrade):
#   bash scripts/gpu/parser-arms.sh START_DIR STEPS MINUTES "NAME=OVERRIDES NAME=OVERRIDES ..."
#   bash scripts/gpu/parser-arms.sh runs/next 1300 3 "deg=lr=2e-4,warmup=50,parser_degrade=true clean=lr=2e-4,warmup=50"
# START_DIR holds ckpt.pt.partNNN (carried; e.g. checkpoint graft's output). OVERRIDES are comma-separated
# resumable config overrides. Every arm trains the parser stage towards STEPS total steps for at most
# MINUTES. BATCH (default 128 an arm) and WORKERS (data workers an arm, default 6) size the arms: at
# batch 256 one parser run held 36 GiB of an H200. CHANNELS_LAST=1: NHWC convolutions.
# The parser stage does not touch the latent space: an arm's parser goes into any run of the same
# config with `python -m durian_export.checkpoint graft --nets parser`.
# Writes $OUT/<arm>/ckpt.pt.part000 (slim: the VAE and the parser, EMA weights) and $OUT/parser-arms.tgz
# (logs and loss logs).
# DEADLINE (Unix seconds): as in train-chunk.sh, the arms also stop 30 s before it (time for the slims).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/out}"
start="$1"; steps="$2"; minutes="$3"; arms="$4"
[[ "$start" = /* ]] || start="$root/$start"
compgen -G "$start/ckpt.pt.part*" > /dev/null || { echo "no checkpoint parts in $start" >&2; exit 2; }
mkdir -p "$out/r"
export PYTHONUNBUFFERED=1
# without a GPU (a check of this script on a CPU): uncompiled, on the CPU
compiled=(--compile --compile-render)
[[ $(python3 -c "import torch; print(torch.cuda.device_count())") -gt 0 ]] || compiled=(--device cpu)
stop=()
[[ -n "${DEADLINE:-}" ]] && stop=(--stop-at $(( DEADLINE - 30 )))
cd "$root/tools/export"
names=()
for spec in $arms; do
  name=${spec%%=*}; names+=("$name")
  rm -rf "/tmp/parser-$name" && mkdir -p "/tmp/parser-$name" && cp "$start"/ckpt.pt.part* "/tmp/parser-$name/"
  extra=()
  [[ $spec == *=* ]] && IFS=, read -r -a extra <<< "${spec#*=}"
  python3 -m durian_export.train --out "/tmp/parser-$name" --resume --stage parser --steps "$steps" --max-minutes "$minutes" \
    --batch-size "${BATCH:-128}" --pool 4096 --pool-refresh 32 --data-workers "${WORKERS:-6}" "${compiled[@]}" "${stop[@]}" \
    --log-every 50 --eval-every 200 --eval-batches 2 --save-every 100000 ${CHANNELS_LAST:+--channels-last} "${extra[@]}" \
    > "$out/r/$name.log" 2>&1 &
done
wait
for name in "${names[@]}"; do
  cp "/tmp/parser-$name/loss.jsonl" "$out/r/$name-loss.jsonl"
  python3 -m durian_export.checkpoint slim --run "/tmp/parser-$name" --out "$out/$name" --ema --trained-only >> "$out/r/slim.log" 2>&1
  grep -h heldout "$out/r/$name-loss.jsonl" | tail -3 | cut -c1-200
done
cd "$out" && tar czf parser-arms.tgz r && rm -rf r
