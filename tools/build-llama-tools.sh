#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-imatrix, llama-quantize, llama-perplexity) from the exact
# source node-llama-cpp ships (node_modules/node-llama-cpp/llama/gitRelease.bundle), once per
# machine: the build is cached outside the clone in $LOWBIT_LLAMA_CACHE (default
# ~/.cache/lowbit/llama.cpp-<commit>). Prints the bin directory on its last line.
# Used by the tests that compare lowbit with llama.cpp's tools, and by `npm run bench`.
# Needs cmake and a C++ compiler (both on this project's machines). ~15 min on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$here/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "build-llama-tools: $bundle not found (run npm install first)" >&2; exit 1; }
commit="$(git bundle list-heads "$bundle" | head -1 | cut -c1-12)"
cache="${LOWBIT_LLAMA_CACHE:-$HOME/.cache/lowbit}/llama.cpp-$commit"
bin="$cache/build/bin"
targets=(llama-imatrix llama-quantize llama-perplexity)
have=1; for t in "${targets[@]}"; do [ -x "$bin/$t" ] || have=0; done
if [ "$have" = 1 ]; then echo "$bin"; exit 0; fi
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"; flock 9
if [ ! -d "$cache/src/.git" ]; then
  rm -rf "$cache/src"; git clone -q "$bundle" "$cache/src" 2>/dev/null
fi
cmake -S "$cache/src" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF >&2
cmake --build "$cache/build" --target "${targets[@]}" -j"$(nproc)" >&2
echo "$bin"
