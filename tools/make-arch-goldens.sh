#!/bin/sh
# Regenerates test/fixtures/arch-golden/: GGUFs written by llama.cpp's own convert_hf_to_gguf.py
# (from the source node-llama-cpp ships) for the synthetic Qwen3 / Qwen3-MoE / SmolLM3 checkpoints
# of test/convert/support/arch-fixture.ts, and what the reference tokenizer does with them.
# Needs Debian's python3 with python3-torch, python3-numpy, python3-regex (apt-get install -y
# python3-torch python3-numpy python3-regex python3-yaml python3-tqdm); `npm test` never runs this.
#
#  - tools/hf-bpe-shim/ stands in for `transformers` (not packaged by Debian): AutoTokenizer reads
#    tokenizer.json (see its docstring for exactly what it models). Its run_convert.py prints the
#    converter's chkhsh; these small vocabularies' hashes are not in llama.cpp's table (the hash covers
#    the token ids), where the converter would stop, so LOWBIT_FALLBACK_PRE names the family's
#    tokenizer.ggml.pre (qwen2 for Qwen3, llama-bpe for SmolLM3's Llama-3 tokenizer).
#  - <kind>.tokenizer.json records the hash and the shim's ids for tokenizer-test.txt.
set -eu
cd "$(dirname "$0")/.."
LLAMACPP=${LLAMACPP:-/tmp/llama.cpp-goldens}
[ -d "$LLAMACPP" ] || git clone -q node_modules/node-llama-cpp/llama/gitRelease.bundle "$LLAMACPP"
SHIM=$PWD/tools/hf-bpe-shim
OUT=$PWD/test/fixtures/arch-golden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
node --import tsx tools/arch-fixtures.mts "$WORK"
run() { # kind outtype
  pre=qwen2; [ "$1" = smollm3 ] && pre=llama-bpe
  LOWBIT_FALLBACK_PRE=$pre PYTHONPATH="$LLAMACPP/gguf-py:$LLAMACPP:$SHIM" /usr/bin/python3 "$SHIM/run_convert.py" \
    "$LLAMACPP/convert_hf_to_gguf.py" "$WORK/$1" --outtype "$2" --outfile "$OUT/$1-$2.gguf" > "$WORK/$1-$2.log" 2>&1 \
    || { cat "$WORK/$1-$2.log"; exit 1; }
  sed -n 's/^chkhsh: //p' "$WORK/$1-$2.log" | head -1
}
for k in qwen3 qwen3moe smollm3; do
  h=$(run $k f32)
  PYTHONPATH="$SHIM" /usr/bin/python3 - "$WORK/$k" "$WORK/tokenizer-test.txt" "$h" "$(git -C "$LLAMACPP" rev-parse HEAD)" > "$OUT/$k.tokenizer.json" <<'PY'
import json, sys
from transformers import AutoTokenizer
t = AutoTokenizer.from_pretrained(sys.argv[1])
text = open(sys.argv[2], encoding='utf-8').read()
print(json.dumps({"llama_cpp": sys.argv[4], "chkhsh": sys.argv[3], "text": text, "ids": t.encode(text, add_special_tokens=False)}))
PY
done
# stacked experts (mlp.experts.gate_up_proj / down_proj): the converter must give the same tensors
# as for per-expert tensors, so the one golden serves both (arch-golden.test.ts)
run qwen3moe-fused f32 > /dev/null
PYTHONPATH="$LLAMACPP/gguf-py" /usr/bin/python3 - "$OUT/qwen3moe-fused-f32.gguf" "$OUT/qwen3moe-f32.gguf" <<'PY'
import sys, gguf
a, b = (gguf.GGUFReader(p) for p in sys.argv[1:3])
assert [(t.name, t.tensor_type, t.data.tobytes()) for t in a.tensors] == [(t.name, t.tensor_type, t.data.tobytes()) for t in b.tensors], "stacked-expert conversion differs"
print("qwen3moe: stacked experts convert to the same tensors")
PY
rm "$OUT/qwen3moe-fused-f32.gguf"
run qwen3 bf16 > /dev/null
run qwen3moe f16 > /dev/null
ls -l "$OUT"
