#!/usr/bin/env bash
# Parser arms side by side, each continuing the same carried checkpoint with its own recipe overrides,
# e.g. with and without the degradations (parser_degrade); scripts/gpu/arms.sh does the work:
#   bash scripts/gpu/parser-arms.sh START_DIR STEPS MINUTES "NAME=OVERRIDES NAME=OVERRIDES ..."
#   bash scripts/gpu/parser-arms.sh runs/next 1300 3 "deg=lr=2e-4,warmup=50,parser_degrade=true clean=lr=2e-4,warmup=50"
# BATCH (default 128 an arm): at batch 256 one parser run held 36 GiB of an H200. The parser stage does
# not touch the latent space: an arm's parser goes into any run of the same config with
# `python -m durian_export.checkpoint graft --nets parser`. Writes $OUT/<arm>/ckpt.pt.part000 (the VAE
# and the parser, EMA weights) and $OUT/parser-arms.tgz (logs and loss logs).
exec bash "$(dirname "${BASH_SOURCE[0]}")/arms.sh" parser "$@"
