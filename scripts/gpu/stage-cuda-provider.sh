#!/usr/bin/env bash
# Stages onnxruntime-node's CUDA execution provider for an offline GPU host with CUDA 13 + cuDNN 9
# (the project's GPU host: PyTorch 2.11 + CUDA 13, no network, no Node).
#
# onnxruntime-node loads libonnxruntime_providers_cuda.so + libonnxruntime_providers_shared.so from
# node_modules/onnxruntime-node/bin/napi-v6/linux/x64/. Its own install script would download them
# (a CUDA 12 build) from the web; the PyPI wheel onnxruntime-gpu of the same version is a CUDA 13
# build that carries the same two libraries. This script, run from the project root on a machine
# with PyPI access, takes them from that wheel and writes, into .gpu-runtime/cuda/ (ignored):
#   providers_cuda.so.xz.part*   the CUDA provider, xz-compressed and split into ≤ PART_MB pieces
#   libonnxruntime_providers_shared.so
#   NEEDED.txt                   what the CUDA provider links against (readelf -d)
#   SHA256SUMS                   of the two uncompressed libraries
# Send the parts to the host (one per call if the send limit demands; ignored files stay on a
# warm host) and there: `source scripts/gpu/cuda-provider-env.sh` (see that file).
set -euo pipefail
[ -f package.json ] && [ -d node_modules/onnxruntime-node ] || { echo "run from the project root after npm ci" >&2; exit 2; }
version=$(node -p "require('onnxruntime-node/package.json').version")
python=${PYTHON:-tools/export/.venv/bin/python}
[ -x "$python" ] || python=python3
part_mb=${PART_MB:-40}
out=.gpu-runtime/cuda
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$python" -m pip download --quiet --no-deps "onnxruntime-gpu==$version" --python-version 3.11 \
  --only-binary=:all: --platform manylinux_2_28_x86_64 -d "$tmp"
unzip -q -o "$tmp"/onnxruntime_gpu-*.whl 'onnxruntime/capi/libonnxruntime_providers_cuda.so' \
  'onnxruntime/capi/libonnxruntime_providers_shared.so' -d "$tmp/x"
lib="$tmp/x/onnxruntime/capi"

rm -rf "$out" && mkdir -p "$out"
readelf -d "$lib/libonnxruntime_providers_cuda.so" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); print $5}' > "$out/NEEDED.txt"
grep -q '^libcudart\.so\.13$' "$out/NEEDED.txt" || { echo "onnxruntime-gpu==$version is not a CUDA 13 build: $(tr '\n' ' ' < "$out/NEEDED.txt")" >&2; exit 1; }
(cd "$lib" && sha256sum libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so) > "$out/SHA256SUMS"
cp "$lib/libonnxruntime_providers_shared.so" "$out/"
xz -T0 -9 -c "$lib/libonnxruntime_providers_cuda.so" | split -b "${part_mb}M" -d -a 2 - "$out/providers_cuda.so.xz.part"
echo "onnxruntime-gpu $version → $out (CUDA provider links: $(tr '\n' ' ' < "$out/NEEDED.txt"))"
du -sh "$out"/* | sed "s#^#  #"
