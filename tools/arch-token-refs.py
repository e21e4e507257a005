"""Reference token ids for the SentencePiece fixtures of test/fixtures/hf-arch, from Google's own
sentencepiece library (what transformers' LlamaTokenizer / GemmaTokenizer run underneath), written to
test/fixtures/hf-arch/<variant>.tokens.json. Run by tools/make-standalone-arch-goldens.sh.
usage: /usr/bin/python3 tools/arch-token-refs.py VARIANT_DIR OUT.json"""
import json, sys
import sentencepiece as spm

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Grüße aus München! Ça va? 日本語のテキスト, русский текст, عربى",
    "def f(x):\n    return x ** 2  # square\n\tprint(f(3))",
    "  leading spaces and\ttabs\n\nnewlines 1234567890 emoji 🙂",
]
sp = spm.SentencePieceProcessor()
sp.LoadFromFile(sys.argv[1] + "/tokenizer.model")
out = [{"text": t, "ids": sp.encode(t)} for t in TEXTS]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write("[\n" + ",\n".join(json.dumps(o, ensure_ascii=False) for o in out) + "\n]\n")
