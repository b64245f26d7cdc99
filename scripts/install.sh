#!/usr/bin/env bash
# Install Tomes into ./.venv. Usage: scripts/install.sh [EXTRAS]   e.g. scripts/install.sh test
#
# llama-cpp-python has no wheel for 0.3.36, so pip builds it from source (a few minutes). Its
# default build uses -march=native, which compiles llama.cpp's AMX kernels; on CPUs with AMX
# (recent Xeons) the first inference then segfaults in ggml_backend_amx_mul_mat
# (https://github.com/ggml-org/llama.cpp/issues/20824, closed as stale without a fix). We build
# a portable AVX2 binary instead. Set CMAKE_ARGS yourself for a GPU build, e.g.
#   CMAKE_ARGS="-DGGML_CUDA=on" scripts/install.sh      (NVIDIA)
#   CMAKE_ARGS="-DGGML_METAL=on" scripts/install.sh     (Apple Silicon)
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$candidate"; break
    fi
  done
fi
[ -n "$py" ] || { echo "Tomes needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$py" -m venv .venv
vpy=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$vpy" -m pip install -q --upgrade pip setuptools wheel

portable="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
build_args="${CMAKE_ARGS:-$portable}"
marker=.venv/.tomes-llama-cmake-args
if ! "$vpy" -c 'import llama_cpp' >/dev/null 2>&1 || [ "$(cat "$marker" 2>/dev/null)" != "$build_args" ]; then
  echo "Building llama-cpp-python from source with: $build_args (a few minutes)…" >&2
  # --no-cache-dir: pip would otherwise reuse a cached wheel built with other flags.
  CMAKE_ARGS="$build_args" "$vpy" -m pip install -q --no-cache-dir --force-reinstall --no-deps \
    "llama-cpp-python==0.3.36"
  printf '%s' "$build_args" > "$marker"
fi

spec="."
[ -n "$extras" ] && spec=".[${extras}]"
"$vpy" -m pip install -q -e "$spec"
echo "Tomes is installed in .venv (run .venv/bin/tomes --help)." >&2
