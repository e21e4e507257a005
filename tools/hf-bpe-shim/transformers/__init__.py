"""Stand-in for `transformers` (Debian does not package it) so llama.cpp's convert_hf_to_gguf.py can
convert byte-level BPE models. AutoConfig raises, so the converter reads config.json itself (as the
shared SentencePiece shim does). AutoTokenizer.from_pretrained(dir) reads tokenizer.json and gives
what the converter uses of a PreTrainedTokenizerFast: .vocab / get_vocab() (model vocab plus added
tokens), get_added_vocab(), added_tokens_decoder (id -> AddedToken with content / special /
normalized), encode(text, add_special_tokens=True), decode(ids), convert_tokens_to_ids().

encode() follows the `tokenizers` library for the parts byte-level BPE models of the Qwen, Llama 3,
SmolLM and GPT-2 families use, and refuses anything else:
  - added tokens are split out first (longest content first), kept as their ids;
  - normalizer: none, NFC, or a Sequence of those;
  - pre-tokenizers: Split (Regex or String pattern, behaviour Isolated or Removed), Digits,
    ByteLevel (add_prefix_space, use_regex with GPT-2's pattern, bytes -> GPT-2's unicode table);
    the Python `regex` module runs the patterns (it understands (?i:...) and \\p{L} as Oniguruma does);
  - model: BPE by merge rank (lowest first, leftmost on ties), ignore_merges;
  - post-processor: ByteLevel (ids unchanged), TemplateProcessing (single), Sequence.
decode() maps ids back to token strings, added tokens as they are, byte-level symbols to bytes."""
import json, os, unicodedata
import regex

class AutoConfig:
    @staticmethod
    def from_pretrained(*a, **k):
        raise OSError("transformers is not installed (shim)")

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))

GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

class AddedToken:
    def __init__(self, d):
        self.content = d["content"]; self.special = bool(d.get("special", False)); self.normalized = bool(d.get("normalized", not self.special))
    def __repr__(self):
        return f"AddedToken({self.content!r}, special={self.special}, normalized={self.normalized})"

def _split(s, rx, behavior):
    out, last = [], 0
    for m in rx.finditer(s):
        if m.end() == m.start():
            continue
        if m.start() > last:
            out.append(s[last:m.start()])
        if behavior == "Isolated":
            out.append(m.group(0))
        elif behavior != "Removed":
            raise NotImplementedError(f"Split behaviour {behavior}")
        last = m.end()
    if last < len(s):
        out.append(s[last:])
    return out

class BpeTokenizer:
    def __init__(self, tj):
        m = tj["model"]
        if m.get("type") != "BPE":
            raise NotImplementedError("shim: only BPE tokenizer.json")
        self.model_vocab = dict(m["vocab"])
        self.ranks = {}
        for r, mg in enumerate(m.get("merges", [])):
            a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
            self.ranks.setdefault((a, b), r)
        self.ignore_merges = bool(m.get("ignore_merges", False))
        self.added = {int(a["id"]): AddedToken(a) for a in tj.get("added_tokens", [])}
        self.b2u = bytes_to_unicode(); self.u2b = {v: k for k, v in self.b2u.items()}
        self.normalizer = self._norm(tj.get("normalizer"))
        self.steps = self._pre(tj["pre_tokenizer"]) if tj.get("pre_tokenizer") else []
        self.post = tj.get("post_processor")
        self.vocab = dict(self.model_vocab)
        for i, a in self.added.items():
            self.vocab[a.content] = i
        self.id_to_tok = {i: t for t, i in self.vocab.items()}
        contents = sorted((a.content for a in self.added.values()), key=len, reverse=True)
        self.added_rx = regex.compile("|".join(regex.escape(c) for c in contents)) if contents else None
        self.cache = {}

    def _norm(self, n):
        if n is None:
            return lambda s: s
        if n["type"] == "NFC":
            return lambda s: unicodedata.normalize("NFC", s)
        if n["type"] == "Sequence":
            fs = [self._norm(x) for x in n["normalizers"]]
            def f(s):
                for g in fs:
                    s = g(s)
                return s
            return f
        raise NotImplementedError(f"shim: normalizer {n['type']}")

    def _pre(self, p):
        t = p["type"]
        if t == "Sequence":
            return [s for q in p["pretokenizers"] for s in self._pre(q)]
        if t == "Split":
            pat = p["pattern"]
            rx = regex.compile(pat["Regex"]) if "Regex" in pat else regex.compile(regex.escape(pat["String"]))
            if p.get("invert"):
                raise NotImplementedError("shim: inverted Split")
            return [lambda ps, rx=rx, b=p["behavior"]: [x for s in ps for x in _split(s, rx, b)]]
        if t == "Digits":
            rx = regex.compile(r"\p{N}" if p.get("individual_digits") else r"\p{N}+")
            return [lambda ps, rx=rx: [x for s in ps for x in _split(s, rx, "Isolated")]]
        if t == "ByteLevel":
            rx = regex.compile(GPT2_SPLIT) if p.get("use_regex", True) else None
            aps = bool(p.get("add_prefix_space", False))
            def f(ps):
                out = []
                for s in ps:
                    if aps and not s.startswith(" "):
                        s = " " + s
                    out.extend(_split(s, rx, "Isolated") if rx else [s])
                return ["".join(self.b2u[b] for b in s.encode("utf-8")) for s in out]
            return [f]
        raise NotImplementedError(f"shim: pre-tokenizer {t}")

    def _word(self, w):
        if w in self.cache:
            return self.cache[w]
        if self.ignore_merges and w in self.model_vocab:
            ids = [self.model_vocab[w]]
        else:
            sym = list(w)
            while True:
                best, best_rank = -1, None
                for i in range(len(sym) - 1):
                    r = self.ranks.get((sym[i], sym[i + 1]))
                    if r is not None and (best_rank is None or r < best_rank):
                        best, best_rank = i, r
                if best < 0:
                    break
                sym = sym[:best] + [sym[best] + sym[best + 1]] + sym[best + 2:]
            ids = [self.model_vocab[s] for s in sym]
        self.cache[w] = ids
        return ids

    def _plain(self, s, ids):
        if not s:
            return
        pieces = [self.normalizer(s)]
        for st in self.steps:
            pieces = st(pieces)
        for p in pieces:
            if p:
                ids.extend(self._word(p))

    def _post(self, p, ids):
        if p is None or p["type"] == "ByteLevel":
            return ids
        if p["type"] == "Sequence":
            for q in p["processors"]:
                ids = self._post(q, ids)
            return ids
        if p["type"] == "TemplateProcessing":
            out = []
            for piece in p["single"]:
                if "Sequence" in piece:
                    out.extend(ids)
                else:
                    out.extend(p["special_tokens"][piece["SpecialToken"]["id"]]["ids"])
            return out
        raise NotImplementedError(f"shim: post-processor {p['type']}")

    def encode(self, text, add_special_tokens=True):
        ids, last = [], 0
        if self.added_rx is not None:
            for m in self.added_rx.finditer(text):
                self._plain(text[last:m.start()], ids)
                ids.append(self.vocab[m.group(0)])
                last = m.end()
        self._plain(text[last:], ids)
        return self._post(self.post, ids) if add_special_tokens else ids

    def decode(self, ids):
        out, buf = [], bytearray()
        for i in ids:
            t = self.id_to_tok[i]
            if i in self.added:
                out.append(buf.decode("utf-8", errors="replace")); buf = bytearray(); out.append(t)
            else:
                buf.extend(self.u2b[c] for c in t)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

    def get_vocab(self):
        return dict(self.vocab)

    def get_added_vocab(self):
        return {a.content: i for i, a in self.added.items()}

    @property
    def added_tokens_decoder(self):
        return dict(self.added)

    def convert_tokens_to_ids(self, t):
        return self.vocab.get(t)

class AutoTokenizer:
    @staticmethod
    def from_pretrained(path, *a, **k):
        p = os.path.join(str(path), "tokenizer.json")
        if not os.path.isfile(p):
            raise OSError(f"shim: no tokenizer.json in {path}")
        with open(p, encoding="utf-8") as f:
            return BpeTokenizer(json.load(f))
