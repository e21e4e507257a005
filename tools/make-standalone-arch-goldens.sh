#!/bin/sh
# Regenerates the golden GGUFs of test/fixtures/hf-arch (phi3, gemma3, gpt-oss synthetic checkpoints)
# with llama.cpp's own convert_hf_to_gguf.py, from the exact source node-llama-cpp ships. Run once when
# a fixture or the pinned llama.cpp changes; `npm test` only reads the committed results (no Python).
#
#   apt-get install -y python3-torch python3-numpy python3-sentencepiece python3-yaml python3-tqdm
#   node --import tsx test/convert/support/fixture-phi3.ts     # (and fixture-gemma3.ts, fixture-gpt-oss.ts)
#   sh tools/make-standalone-arch-goldens.sh [VARIANT...]
#
# Debian has no `transformers`: the shim in tools/hf-converter-shim (a copy of
# /work/shared/tools/hf-converter-shim, extended for byte-level BPE tokenizer.json, see its README)
# stands in for it. Outputs: test/fixtures/hf-arch/<variant>.<F32|F16>.gguf
set -eu
cd "$(dirname "$0")/.."
LLAMACPP=${LLAMACPP:-/tmp/llama.cpp-goldens}
if [ ! -f "$LLAMACPP/convert_hf_to_gguf.py" ]; then
  git clone -q node_modules/node-llama-cpp/llama/gitRelease.bundle "$LLAMACPP"
fi
SHIM=$(pwd)/tools/hf-converter-shim
ROOT=test/fixtures/hf-arch
VARIANTS=${*:-"phi3-mini phi4-mini gemma3 gemma3-mm gpt-oss gpt-oss-bf16"}
for v in $VARIANTS; do
  [ -d "$ROOT/$v" ] || { echo "no $ROOT/$v (run its fixture-*.ts first)"; exit 1; }
  for t in f32 f16; do
    T=$(echo $t | tr a-z A-Z)
    PYTHONPATH="$LLAMACPP/gguf-py:$LLAMACPP:$SHIM" /usr/bin/python3 "$SHIM/run_convert.py" \
      "$LLAMACPP/convert_hf_to_gguf.py" "$ROOT/$v" --outtype $t --outfile "$ROOT/$v.$T.gguf" >/dev/null 2>&1
    echo "wrote $ROOT/$v.$T.gguf"
  done
  if [ -f "$ROOT/$v/tokenizer.model" ]; then
    /usr/bin/python3 tools/arch-token-refs.py "$ROOT/$v" "$ROOT/$v.tokens.json"
    echo "wrote $ROOT/$v.tokens.json"
  fi
done
