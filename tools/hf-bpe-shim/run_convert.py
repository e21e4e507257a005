"""Run llama.cpp's convert_hf_to_gguf.py under Debian's torch 1.13 with this directory's transformers
stand-in: torch gets the float8/uint dtypes it lacks (sentinels no synthetic model uses).
If LOWBIT_FALLBACK_PRE is set, a BPE vocabulary whose check-text hash llama.cpp's table does not know
(every small synthetic vocabulary: the hash covers the token ids) gets that tokenizer.ggml.pre instead
of the converter's NotImplementedError; the hash is printed as "chkhsh: <hex>" either way.
usage: PYTHONPATH=$LLAMACPP/gguf-py:$LLAMACPP:$SHIM /usr/bin/python3 run_convert.py $LLAMACPP/convert_hf_to_gguf.py ARGS..."""
import os, runpy, sys, torch
from hashlib import sha256
for n in ('float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'uint16', 'uint32', 'uint64'):
    if not hasattr(torch, n):
        setattr(torch, n, object())
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
from conversion import base
orig = base.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    import re
    src = open(base.__file__, encoding='utf-8').read()
    chktxt = eval(re.search(r"chktxt = ('(?:[^'\\]|\\.)*')", src).group(1))
    print("chkhsh:", sha256(str(tokenizer.encode(chktxt)).encode()).hexdigest(), flush=True)
    try:
        return orig(self, tokenizer)
    except NotImplementedError:
        pre = os.environ.get("LOWBIT_FALLBACK_PRE")
        if not pre:
            raise
        print("unknown chkhsh: tokenizer.ggml.pre =", pre, "(LOWBIT_FALLBACK_PRE)", flush=True)
        return pre
base.TextModel.get_vocab_base_pre = get_vocab_base_pre
runpy.run_path(script, run_name='__main__')
