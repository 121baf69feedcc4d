#!/usr/bin/env bash
# Steps or capacity? VAE runs with the same recipe, one GPU each:
#   c4:  the vae_norm "pixel" run so far (checkpoints/vae-pixel, 4 latent channels), continued;
#   c16: a fresh run with 16 latent channels.
# vae_health reads renders of the validation seed VAL_SEED (default 2000000), which choices are made on,
# and then the benchmark's people (hold_out_seed), where issue 18's round-trip bar is read.
# Both use batch 512 on one GPU (the first chunk ran 2 × 256 under DDP), lr 3e-4, a 3,000-step
# schedule, held-out loss every 200 steps on the first chunk's 2 held-out batches, so a fresh arm's
# log compares with the first chunk's step for step. Then vae_health on 32 held-out renders for
# each, and each run's VAE-only checkpoint.
#   bash scripts/gpu/vae-arms.sh MINUTES [ARMS]   ARMS: "c4 c16" (default; 2 GPUs) or one of them
#                                                 (one GPU; c4 needs checkpoints/vae-pixel carried)
#   An arm NAME=OVERRIDES is a fresh run with the config overrides OVERRIDES (comma-separated) on top of
#   the c-arms' recipe, e.g. "c16kl=model.latent_channels=16,kl_weight=5e-12".
#   GPUS="0 0": the GPU of each arm in turn (default 0 1 ...). Two arms on one GPU need smaller batches:
#   at batch 512 one VAE run holds ~100 GiB of an H200 and the second fails with CUDA out of memory.
#   An arm resumes from .vae-start/<arm> (carried; ignored) where present, c4 from checkpoints/vae-pixel;
#   a resumed NAME=OVERRIDES arm takes the recipe overrides that resume allows (e.g. kl_weight=1e-7).
#   BATCH (default 512) and WORKERS (data workers per arm, default 14) size the arms, e.g. three arms
#   on one H200: BATCH=168 WORKERS=5 GPUS="0 0 0". STEPS (default 3000) is the schedule's end;
#   POOL (default 8192) and REFRESH (default 64) size each arm's pool of samples and the fresh renders a
#   step; a sample of vae_frames=2 is two renders, so runs of frames fill a pool of the same size twice as
#   slowly (the fill is most of an arm's set-up).
#   RESTART=1 restarts a resumed arm's learning-rate schedule at its step (warm-up, then cosine to STEPS),
#   for a run continued past its first schedule. CHANNELS_LAST=1: NHWC convolutions (train --channels-last).
#   HEALTH=0 skips the two vae_health runs an arm: run them where the slims come back instead. Four
#   arms of 5.5 minutes on two H200s (2026-11-30) ran past the call's 600 s in those runs.
#   torch.compile's cache artifacts stay on the host in .compile-cache/vae.bin (ignored), which a warm
#   machine's next call loads; never carry .compile-cache (it would replace the host's copy) and it is
#   not returned (110 MB, over the 16 MiB a returned file may be). Measured 2026-11-29 (CHANNELS_LAST=1):
#   compiling took ~41 s of training time on a fresh machine, ~3 s on a warm one with the cache.
# Writes $OUT/<arm>/ckpt.pt.part000 for each arm and $OUT/results.tgz (logs, health JSON).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/out}"; minutes="${1:-7}"
mkdir -p "$out/r"
export PYTHONUNBUFFERED=1
cd "$root/tools/export"
arms="${2:-c4 c16}"
common=(--stage vae --steps "${STEPS:-3000}" --max-minutes "$minutes" --batch-size "${BATCH:-512}" --pool "${POOL:-8192}" --pool-refresh "${REFRESH:-64}"
        --data-workers "${WORKERS:-14}" --compile --compile-render --log-every 50 --eval-every 200 --eval-batches 2
        --save-every 100000 --ema-decay 0.99 ${CHANNELS_LAST:+--channels-last} --compile-cache "$root/.compile-cache/vae.bin")
read -r -a gpus <<< "${GPUS:-0 1 2 3}"
i=0
names=()
for spec in $arms; do
  c=${spec%%=*}; names+=("$c")
  gpu=${gpus[$i]}; i=$((i + 1))
  rm -rf /tmp/vae-$c && mkdir -p /tmp/vae-$c
  start=""
  [[ $c == c4 ]] && start="$root/checkpoints/vae-pixel"
  [[ -d "$root/.vae-start/$c" ]] && start="$root/.vae-start/$c"
  extra=()
  # overrides split at commas outside brackets, so a list can be given: model.vae_channels=[64,96,128,128]
  [[ $spec == *=* ]] && readarray -t extra < <(python3 -c 'import re, sys; print("\n".join(re.split(r",(?![^[]*])", sys.argv[1])))' "${spec#*=}")
  if [[ -n $start ]]; then
    # a resumed arm starts without optimiser state, so train re-warms its rate (here over 50 steps)
    cp "$start"/ckpt.pt.part* /tmp/vae-$c/
    CUDA_VISIBLE_DEVICES=$gpu python3 -m durian_export.train --out /tmp/vae-$c --resume "${common[@]}" ${RESTART:+--restart-schedule} warmup=50 "${extra[@]}" \
      > "$out/r/$c.log" 2>&1 &
  else
    [[ $spec == *=* ]] || extra=("model.latent_channels=${c#c}")
    CUDA_VISIBLE_DEVICES=$gpu python3 -m durian_export.train --config configs/base.json --out /tmp/vae-$c \
      "${common[@]}" lr=3e-4 model.vae_norm=pixel "${extra[@]}" > "$out/r/$c.log" 2>&1 &
  fi
done
wait
for c in "${names[@]}"; do
  cp /tmp/vae-$c/loss.jsonl "$out/r/$c-loss.jsonl"
  python3 -m durian_export.checkpoint slim --run /tmp/vae-$c --out "$out/$c" --ema --trained-only >> "$out/r/slim.log" 2>&1
  [[ ${HEALTH:-1} == 0 ]] && continue
  python3 -m durian_export.vae_health --checkpoint "$out/$c" --renders 32 --size 256 --seed "${VAL_SEED:-2000000}" --json "$out/r/$c-health.json" \
    > "$out/r/$c-health.log" 2>&1 &
  # and on the benchmark's people, where issue 18's 32 dB bar is read (never used to choose)
  python3 -m durian_export.vae_health --checkpoint "$out/$c" --renders 32 --size 256 --json "$out/r/$c-health-bench.json" \
    > "$out/r/$c-health-bench.log" 2>&1 &
done
wait
grep -h heldout "$out"/r/*-loss.jsonl | cut -c1-160; cat "$out"/r/*-health.log 2>/dev/null
cd "$out" && tar czf results.tgz r && rm -rf r
