#!/usr/bin/env bash
# Arms of one stage side by side, each continuing the same carried checkpoint with its own recipe
# overrides, so that two recipes are compared from the same start at equal device time:
#   bash scripts/gpu/arms.sh STAGE START_DIR STEPS MINUTES "NAME=OVERRIDES NAME=OVERRIDES ..."
#   bash scripts/gpu/arms.sh parser runs/next 1300 3 "deg=lr=2e-4,warmup=50,parser_degrade=true clean=lr=2e-4,warmup=50"
#   bash scripts/gpu/arms.sh stage2 checkpoints/next 600 6 "rand=clip_sampling=random,lr=2e-4,warmup=100 s3=clip_stride=3,lr=2e-4,warmup=100"
#   bash scripts/gpu/arms.sh stage1 checkpoints/next 12000 7 "plain= floor=min_snr_floor=0.25"
#   bash scripts/gpu/arms.sh fetch stage1 floor      (the next call, on the same warm host: see below)
# STAGE: parser, stage1, stage2 or vae (the decoder fine-tuned on the denoiser's estimates:
# vae_denoised_t in every arm's overrides; the other VAE recipes run in vae-arms.sh). START_DIR holds ckpt.pt.partNNN (carried). OVERRIDES are comma-separated
# config overrides (those resume allows) and train options (--steps=40), in any order. Every arm trains STAGE towards STEPS total steps for at most
# MINUTES. Stage-2 arms start with --reinit: their temporal layers begin at the seeded init, whatever
# the start checkpoint holds, so every arm starts from the same stage-1 weights and nothing else.
# GPUs: with at least as many GPUs as arms, arm i runs alone on GPU i at the stage's full batch; with
# fewer, the arms share GPU 0 (GPUS="0 0" forces that; GPUS="0 1" sets the mapping). BATCH sets the
# per-arm batch (defaults: parser 128; stage1 512 alone on a GPU, the batch of stage 1's two-GPU runs,
# or 256 sharing one, with a pool of 32 batches and an eighth of a batch of fresh renders a step, 8x
# reuse; stage2 128 alone, 64 sharing); WORKERS the data workers an arm (default: below; 0 on a CPU). CHANNELS_LAST=1:
# NHWC convolutions. Each arm keeps torch.compile's cache artifacts on the host in
# .compile-cache/arms-STAGE-NAME.bin (ignored; never carry it, that would replace the host's copy),
# which an arm of the same stage and name loads in a later call on the same warm host: a cold compile
# costs a stage-1 call about 3 minutes before its first step, a warm one under 1 (docs/training.md).
# Give an arm of another shape (a grown model, other clip lengths) a name of its own.
# Writes $OUT/<arm>/ckpt.pt.partNNN (slim: EMA weights, trained nets only) and $OUT/STAGE-arms.tgz (logs
# and loss logs); a vae arm's slim holds the VAE alone (6 MB; the whole run stays on the host for
# STARTS). A call returns at most 64 MiB in all, and a stage-1 or stage-2 slim is about 44 MB,
# so the slims go back in arm order while they fit under that; an arm whose slim does not fit stays
# in its run directory on the host, and `arms.sh fetch STAGE NAME...` as the next call (on the same
# warm host, within its idle window) slims it into $OUT/NAME.
# An arm whose training fails (out of memory, a bad option) is reported as FAILED with the end of its
# log, and nothing comes back for it; the others' slims still do, and the call exits 1.
# DEADLINE (Unix seconds): as in train-chunk.sh, the arms also stop before it, leaving time for the
# slims: 30 s, and for vae arms 40 s an arm (a vae arm's slim and unstage took 34 s each on an H200
# host, 2026-12-02; three arms stopped 30 s before a deadline 55 s short of the call's limit ran out
# of time in the third slim).
# STARTS="NAME:DIR ...": those arms start from DIR (checkpoint parts, e.g. /tmp/stage1-slim-ARM, the
# slim a stage-1 arm left on this host) instead of START_DIR, so a stage-2 arm can continue the
# stage-1 arm of the same recipe in the next call.
# GROW="NAME:BLOCKS ...": those arms start from their start (START_DIR, or their STARTS entry) grown
# on the host to BLOCKS blocks a level in the UNet and both ReferenceNets, or with NAME:vae-decoder=BLOCKS
# to BLOCKS ResBlocks a level in the VAE decoder (`checkpoint grow`: the same function, a fresh
# optimiser; give a grown arm a name of its own, its compile cache is of another shape). A grown
# model's slim may be too large to return beside another arm's; `arms.sh fetch` brings it alone.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/out}"
run_of() { echo "/tmp/$stage-arm-$1"; }  # an arm's run directory on the host
start_of() {  # the start directory of arm $1: its STARTS entry, or START_DIR
  local e; for e in ${STARTS:-}; do [[ "${e%%:*}" == "$1" ]] && { echo "${e#*:}"; return 0; }; done; echo "$start"
}
grow_of() {  # the blocks a level GROW gives arm $1 (GROW="NAME:BLOCKS ..."), or nothing
  local g; for g in ${GROW:-}; do [[ "${g%%:*}" == "$1" ]] && echo "${g#*:}"; done; return 0
}
slim_arm() {  # slim_arm NAME: the arm's EMA weights, trained nets only, as parts in /tmp/STAGE-slim-NAME
  # (the tools' own output on stderr); prints the folder that goes back in $OUT. A vae arm trains the
  # VAE alone: what goes back is the VAE (6 MB, where the whole trained run is 44), its other stages
  # unstaged, in /tmp/STAGE-slim-NAME.vae, so every arm's slim comes back in the training call; the
  # whole run stays beside it for a later call's STARTS
  local dest="/tmp/$stage-slim-$1"
  rm -rf "$dest" "$dest.vae"
  (cd "$root/tools/export" && python3 -m durian_export.checkpoint slim --run "$(run_of "$1")" --out "$dest" \
    --ema --trained-only) >&2 || return
  if [[ "$stage" == vae ]]; then
    (cd "$root/tools/export" && python3 -m durian_export.checkpoint unstage --run "$dest" --out "$dest.vae" \
      --stages parser,stage1,stage2) >&2 || return
    echo "$dest.vae"
  else
    echo "$dest"
  fi
}
if [[ "${1:-}" == fetch ]]; then
  stage="$2"; shift 2
  mkdir -p "$out"
  for name in "$@"; do
    [[ -f "$(run_of "$name")/ckpt.pt" ]] || { echo "no run of arm $name of $stage on this host" >&2; exit 2; }
    back=$(slim_arm "$name") || exit 1
    cp -r "$back" "$out/$name" || exit 1
    echo "$name: $(du -sb "$out/$name" | cut -f1) bytes in $out/$name"
  done
  exit 0
fi
stage="$1"; start="$2"; steps="$3"; minutes="$4"; arms="$5"
[[ "$start" = /* ]] || start="$root/$start"
compgen -G "$start/ckpt.pt.part*" > /dev/null || { echo "no checkpoint parts in $start" >&2; exit 2; }
read -r -a specs <<< "$arms"
n=${#specs[@]}
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
if [[ -n "${GPUS:-}" ]]; then read -r -a map <<< "$GPUS"
elif (( gpus >= n )); then map=($(seq 0 $(( n - 1 ))))
else map=($(for _ in "${specs[@]}"; do echo 0; done)); fi
shared=$(printf '%s\n' "${map[@]}" | sort | uniq -d | wc -l)
case "$stage" in
  parser) fast=(--batch-size "${BATCH:-128}" --pool 4096 --pool-refresh 32); extra_stage=() ;;
  # stage 1: a pool of 32 batches with a batch's eighth fresh each step (8x reuse), whatever the batch.
  # The refresh's renders cap the rate: an arm alone at 256 with the 64 a step of batch 512 ran at
  # 640 samples/s (reuse 4, data-bound; 2026-12-01), where two arms sharing a GPU at 256 with 32 ran
  # at 450 each.
  stage1) b=${BATCH:-$(( shared > 0 ? 256 : 512 ))}
          fast=(--batch-size "$b" --pool $(( 32 * b )) --pool-refresh $(( b / 8 ))); extra_stage=() ;;
  stage2) fast=(--batch-size "${BATCH:-$(( shared > 0 ? 64 : 128 ))}" --pool 2048 --pool-refresh 8); extra_stage=(--reinit) ;;
  # vae: the decoder on the denoiser's estimates (vae_denoised_t=T in the arm's overrides, from a run
  # with trained stages): samples are clips of `frames` frames, so 16 a step decode 128 frames
  vae) fast=(--batch-size "${BATCH:-16}" --pool 1024 --pool-refresh 8); extra_stage=() ;;
  *) echo "arms.sh: STAGE must be parser, stage1, stage2 or vae, not $stage" >&2; exit 2 ;;
esac
# Stage-1 arms need 53-67 GiB of GPU memory each at batch 256 (compiled, pool of 8,192): two share
# one H200's 140 GiB, three do not (one died out of memory in its pool refresh, 2026-12-01). Refuse a
# mapping that puts more than 512 samples a step of stage-1 arms on one GPU, before anything starts.
if [[ "$stage" == stage1 ]] && (( gpus > 0 )); then
  for g in $(printf '%s\n' "${map[@]}" | sort -u); do
    k=$(printf '%s\n' "${map[@]}" | grep -cx "$g")
    (( k * b > 512 )) && { echo "arms.sh: $k stage-1 arms at batch $b on GPU $g do not fit in its memory (at most 512 samples a step a GPU: two arms at 256); give fewer arms a GPU or a smaller BATCH" >&2; exit 2; }
  done
fi
compiled=(--compile --compile-render)
# data workers an arm: the host's cores shared between the arms, 2 left for each arm's main process
# and at most the 12 a rank of train-chunk.sh has (6 for two arms on the 16 cores of one H200)
w=$(( $(nproc) / n - 2 )); (( w > 12 )) && w=12; (( w < 1 )) && w=1
workers=${WORKERS:-$w}
# without a GPU (a check of this script on a CPU): uncompiled, on the CPU, tiny batches, no workers
(( gpus > 0 )) || { compiled=(--device cpu); fast=(--batch-size 2 --pool 8 --pool-refresh 2); map=(); workers=${WORKERS:-0}; }
stop=()
reserve=30; [[ "$stage" == vae ]] && reserve=$(( 40 * n ))
[[ -n "${DEADLINE:-}" ]] && stop=(--stop-at $(( DEADLINE - reserve )))
mkdir -p "$out/r"
cd "$root/tools/export"
names=()
declare -A pid_of
for i in "${!specs[@]}"; do
  spec=${specs[$i]}; name=${spec%%=*}; names+=("$name")
  run=$(run_of "$name")
  rm -rf "$run" && mkdir -p "$run"
  blocks=$(grow_of "$name")
  if [[ -n "$blocks" ]]; then  # this arm starts from its start checkpoint grown (same function, more blocks)
    if [[ "$blocks" == vae-decoder=* ]]; then grow=(--vae-decoder-blocks "${blocks#vae-decoder=}"); else grow=(--unet-blocks "$blocks"); fi
    python3 -m durian_export.checkpoint grow --run "$(start_of "$name")" --out "$run" "${grow[@]}" > "$out/r/$name-grow.log" 2>&1 ||
      { echo "$name: grow failed (see $name-grow.log)"; continue; }
  else
    from=$(start_of "$name")
    compgen -G "$from/ckpt.pt.part*" > /dev/null || { echo "$name: no checkpoint parts in $from"; continue; }
    cp "$from"/ckpt.pt.part* "$run/"
  fi
  # the arm's options (--x) before its key=value overrides: argparse takes no override after an option
  extra=(); opts=(); overrides=()
  [[ $spec == *=* ]] && IFS=, read -r -a extra <<< "${spec#*=}"
  for e in "${extra[@]}"; do if [[ $e == --* ]]; then opts+=("$e"); else overrides+=("$e"); fi; done
  cache=()
  (( gpus > 0 )) && cache=(--compile-cache "$root/.compile-cache/arms-$stage-$name.bin")
  CUDA_VISIBLE_DEVICES=${map[$i]:-} python3 -m durian_export.train --out "$run" --resume --stage "$stage" \
    "${extra_stage[@]}" --steps "$steps" --max-minutes "$minutes" "${fast[@]}" --data-workers "$workers" \
    "${compiled[@]}" "${cache[@]}" "${stop[@]}" --log-every 20 --eval-every 200 --eval-batches 2 --save-every 100000 \
    ${CHANNELS_LAST:+--channels-last} "${opts[@]}" "${overrides[@]}" > "$out/r/$name.log" 2>&1 &
  pid_of[$name]=$!
done
# An arm whose training failed has no result: its run directory still holds the start checkpoint,
# which must not come back slimmed as if it were the arm's.
declare -A rc_of
for name in "${names[@]}"; do
  if [[ -n "${pid_of[$name]:-}" ]]; then wait "${pid_of[$name]}"; rc_of[$name]=$?; else rc_of[$name]=-1; fi
done
room=$(( 63 * 1024 * 1024 ))  # of the 64 MiB a call returns, 1 MiB kept for the logs' archive (about
# 0.1 MiB for two arms' logs); a grown slim, 61.6 MiB, then returns alone in the call that trained it
for name in "${names[@]}"; do
  cp "$(run_of "$name")/loss.jsonl" "$out/r/$name-loss.jsonl" 2> /dev/null
  if [[ "${rc_of[$name]}" != 0 ]]; then
    echo "$name: FAILED (exit ${rc_of[$name]}; the end of r/$name.log below); no slim"
    tail -n 3 "$out/r/$name.log" 2> /dev/null | cut -c1-300
    continue
  fi
  echo "$name:"; grep -h heldout "$out/r/$name-loss.jsonl" | tail -3 | cut -c1-240
  back=$(slim_arm "$name" 2>> "$out/r/slim.log")
  size=$(du -sb "$back" | cut -f1)
  if (( size <= room )); then
    cp -r "$back" "$out/$name"; room=$(( room - size ))
  else
    # kept on the host: a later call's STARTS may continue it
    echo "$name: its slim ($size bytes) does not fit in what this call returns; it stays in /tmp/$stage-slim-$name; next call: bash scripts/gpu/arms.sh fetch $stage $name"
  fi
done
cd "$out" && tar czf "$stage-arms.tgz" r && rm -rf r
# the others' results came back; the call still fails when an arm did
for name in "${names[@]}"; do [[ "${rc_of[$name]}" == 0 ]] || exit 1; done
