# Source on the GPU host from the project root, after `source .gpu-runtime/env.sh`:
#   source scripts/gpu/cuda-provider-env.sh
# Installs the CUDA provider staged by scripts/gpu/stage-cuda-provider.sh into onnxruntime-node
# (once), and points the dynamic loader at the CUDA 13 runtime, cuBLAS, cuRAND and cuDNN 9 that
# the host's PyTorch wheels ship under site-packages/nvidia/ (the host has no system CUDA toolkit
# libraries on the default path). Then `node bin/durian.js doctor` should list cuda as usable.
_cuda_stage="$(pwd)/.gpu-runtime/cuda"
_ort_dir="$(pwd)/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
if [ ! -f "$_ort_dir/libonnxruntime_providers_cuda.so" ]; then
  if ! ls "$_cuda_stage"/providers_cuda.so.xz.part* >/dev/null 2>&1; then
    echo "cuda-provider-env: no staged parts in $_cuda_stage (run scripts/gpu/stage-cuda-provider.sh and send them)" >&2
  else
    cat "$_cuda_stage"/providers_cuda.so.xz.part* | xz -dc > "$_ort_dir/libonnxruntime_providers_cuda.so.tmp" &&
      mv "$_ort_dir/libonnxruntime_providers_cuda.so.tmp" "$_ort_dir/libonnxruntime_providers_cuda.so"
    cp "$_cuda_stage/libonnxruntime_providers_shared.so" "$_ort_dir/"
    (cd "$_ort_dir" && sha256sum -c --quiet "$_cuda_stage/SHA256SUMS") || echo "cuda-provider-env: checksum mismatch" >&2
  fi
fi
# Every lib/ folder of the nvidia-* wheels next to the host's torch (cu13 layouts nest them deeper).
_nv_root=$(python3 -c "import importlib.util as u, os; s = u.find_spec('nvidia'); print(os.path.dirname(list(s.submodule_search_locations)[0]) if s else '')" 2>/dev/null)
if [ -n "$_nv_root" ]; then
  _nv_libs=$(find "$_nv_root/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | tr '\n' ':')
  export LD_LIBRARY_PATH="${_nv_libs}${LD_LIBRARY_PATH:-}"
fi
for _l in $(cat "$_cuda_stage/NEEDED.txt" 2>/dev/null) libcudnn.so.9; do
  case "$_l" in libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libgcc_s.so*|libstdc++.so*|ld-linux*) continue ;; esac
  ( IFS=:; for d in $LD_LIBRARY_PATH; do [ -e "$d/$_l" ] && exit 0; done; ldconfig -p | grep -q " $_l " ) ||
    echo "cuda-provider-env: $_l not found on LD_LIBRARY_PATH or in the loader cache" >&2
done
unset _cuda_stage _ort_dir _nv_root _nv_libs _l
