#!/usr/bin/env bash
# Steps or capacity? Two VAE runs side by side on a 2-GPU host, one GPU each, same recipe:
#   GPU 0: the vae_norm "pixel" run so far (checkpoints/vae-pixel, 4 latent channels), continued;
#   GPU 1: a fresh run with 16 latent channels.
# Both use batch 512 on one GPU (the first chunk ran 2 × 256 under DDP), lr 3e-4, a 3,000-step
# schedule, held-out loss every 200 steps, so the fresh arm's log compares with the first chunk's
# step for step. Then vae_health on 16 held-out renders for each, and each run's VAE-only checkpoint.
#   bash scripts/gpu/vae-arms.sh MINUTES     (the working tree must carry checkpoints/vae-pixel)
# Writes $OUT/c4/ckpt.pt.part000, $OUT/c16/ckpt.pt.part000 and $OUT/results.tgz (logs, health JSON).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/out}"; minutes="${1:-7}"
mkdir -p "$out/r"
export PYTHONUNBUFFERED=1
cd "$root/tools/export"
rm -rf /tmp/vae-c4 /tmp/vae-c16 && mkdir -p /tmp/vae-c4 && cp "$root"/checkpoints/vae-pixel/ckpt.pt.part* /tmp/vae-c4/
common=(--stage vae --steps 3000 --max-minutes "$minutes" --batch-size 512 --pool 8192 --pool-refresh 64
        --data-workers 14 --compile --compile-render --log-every 50 --eval-every 200 --eval-batches 1
        --save-every 100000 --ema-decay 0.99)
# the resumed arm starts without optimiser state, so train re-warms its rate (here over 50 steps)
CUDA_VISIBLE_DEVICES=0 python3 -m durian_export.train --out /tmp/vae-c4 --resume "${common[@]}" warmup=50 \
  > "$out/r/c4.log" 2>&1 &
CUDA_VISIBLE_DEVICES=1 python3 -m durian_export.train --config configs/base.json --out /tmp/vae-c16 "${common[@]}" \
  lr=3e-4 model.latent_channels=16 > "$out/r/c16.log" 2>&1 &
wait
for c in c4 c16; do
  cp /tmp/vae-$c/loss.jsonl "$out/r/$c-loss.jsonl"
  python3 -m durian_export.checkpoint slim --run /tmp/vae-$c --out "$out/$c" --ema --trained-only >> "$out/r/slim.log" 2>&1
  python3 -m durian_export.vae_health --checkpoint "$out/$c" --renders 16 --size 256 --json "$out/r/$c-health.json" \
    > "$out/r/$c-health.log" 2>&1 &
done
wait
grep -h heldout "$out"/r/c*-loss.jsonl | cut -c1-160; cat "$out"/r/c*-health.log
cd "$out" && tar czf results.tgz r && rm -rf r
