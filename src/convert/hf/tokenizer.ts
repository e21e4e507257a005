// Hugging Face tokenizers → tokenizer.ggml.*, following convert_hf_to_gguf.py:
//  - tokenizer.model (SentencePiece)                   → model "llama", pre "default" (_set_vocab_sentencepiece)
//  - tokenizer.json BPE with byte_fallback (HF Llama)  → model "llama", pre "default" (_set_vocab_llama_hf)
//  - tokenizer.json byte-level BPE                     → model "gpt2" with merges (_set_vocab_gpt2)
// Special token ids, add_bos/add_eos and chat_template come from tokenizer_config.json, tokenizer.json's
// added_tokens and config.json, as gguf-py's SpecialVocab reads them.
//
// tokenizer.ggml.pre: as llama.cpp's get_vocab_base_pre, by hashing the ids of its check text
// (pre-hash.ts; lowbit's own BPE encoder stands in for transformers). When llama.cpp's table does
// not know the hash (where llama.cpp's converter stops with "BPE pre-tokenizer was not recognized",
// e.g. every small synthetic vocabulary) or the encoder cannot model the tokenizer, lowbit
// recognises the pre-tokenizer from tokenizer.json's own pre_tokenizer (its split regex / digit
// rules), and otherwise asks for --pre.
// One difference: for byte-fallback BPE tokenizer.json, convert_hf_to_gguf.py gives every token score
// -1000, which makes llama.cpp's SentencePiece-style merging ignore the merge order; lowbit scores
// each token by its merge rank (-rank), as SentencePiece BPE models score their pieces.
import { LowbitError } from '../../errors.js';
import { TOKEN_TYPE, type GgufVocab } from '../model.js';
import type { HfConfig } from './config.js';
import { archDef } from './arch/index.js';
import { readSentencePieceModel, SP_TYPE } from './sentencepiece.js';
import { preTokenizerHash } from './pre-hash.js';
import { standaloneArchitecture } from './arch/standalone.js';

export interface HfTokenizerFiles {
  tokenizerModel?: Uint8Array;
  tokenizerJson?: unknown;
  tokenizerConfig?: unknown;
  chatTemplateFile?: string;
  /** added_tokens.json (Phi-3) */
  addedTokensJson?: unknown;
}

export interface HfVocab extends GgufVocab {
  /** tokenizer_config.json add_prefix_space, when given */
  addSpacePrefix?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

function addedTokens(tj: Obj | undefined): AddedToken[] {
  const a = tj?.added_tokens;
  if (!Array.isArray(a)) return [];
  return a
    .filter((t): t is Obj => isObj(t) && Number.isInteger(t.id) && typeof t.content === 'string')
    .map((t) => ({ id: t.id as number, content: t.content as string, special: t.special === true }));
}

export function looksSpecial(t: string): boolean {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) ||
    (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<\uff5c') && t.endsWith('\uff5c>')) ||
    (t.startsWith('<unused') && t.endsWith('>'))
  );
}

export function buildHfVocab(files: HfTokenizerFiles, cfg: HfConfig, opts: { pre?: string } = {}): HfVocab {
  const own = standaloneArchitecture(cfg.arch)?.vocab;
  if (own) return own(files, cfg, opts);
  const tj = isObj(files.tokenizerJson) ? files.tokenizerJson : undefined;
  const model = isObj(tj?.model) ? (tj!.model as Obj) : undefined;
  const llamaModel = archDef(cfg.arch).llamaModel === true;
  let v: HfVocab;
  if (files.tokenizerModel)
    v = fromSentencePiece(files.tokenizerModel, cfg, files.tokenizerConfig, files.addedTokensJson);
  else if (!tj || !model)
    throw new LowbitError('no tokenizer: the model directory needs tokenizer.model or tokenizer.json');
  else if (model.type === 'BPE' && model.byte_fallback === true && llamaModel) v = fromLlamaBpeJson(tj, model);
  else if (model.type === 'BPE') v = fromByteLevelBpe(tj, model, cfg, opts.pre);
  else
    throw new LowbitError(
      `tokenizer.json: model type ${String(model.type)} is not supported (BPE, or a tokenizer.model)`,
      'EUNSUPPORTED',
    );
  applySpecialVocab(v, tj, files.tokenizerConfig, cfg, files.chatTemplateFile);
  // LlamaModel.set_vocab: vocab size 49152 (granite small models, SmolLM) never adds BOS
  if (llamaModel && cfg.vocabSize === 49152) v.addBos = false;
  if (isObj(files.tokenizerConfig) && typeof files.tokenizerConfig.add_prefix_space === 'boolean' && llamaModel) {
    v.addSpacePrefix = files.tokenizerConfig.add_prefix_space;
  }
  return v;
}

/** _create_vocab_sentencepiece: tokenizer.model pieces, added_tokens.json, then tokenizer_config.json's added_tokens_decoder. */
export function fromSentencePiece(
  bytes: Uint8Array,
  cfg: HfConfig,
  tokenizerConfig: unknown,
  addedTokensJson?: unknown,
): HfVocab {
  const sp = readSentencePieceModel(bytes);
  const n = cfg.vocabSize || sp.pieces.length;
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const scores = new Float32Array(n).fill(-10000);
  const types = new Int32Array(n).fill(TOKEN_TYPE.UNUSED);
  sp.pieces.forEach((p, id) => {
    if (id >= n) return;
    tokens[id] = p.piece;
    scores[id] = p.score;
    types[id] =
      p.type === SP_TYPE.UNKNOWN
        ? TOKEN_TYPE.UNKNOWN
        : p.type === SP_TYPE.CONTROL
          ? TOKEN_TYPE.CONTROL
          : p.type === SP_TYPE.UNUSED
            ? TOKEN_TYPE.UNUSED
            : p.type === SP_TYPE.BYTE
              ? TOKEN_TYPE.BYTE
              : TOKEN_TYPE.NORMAL;
  });
  // added_tokens.json: user-defined, score -1000 (ids past the vocab are ignored)
  if (isObj(addedTokensJson)) {
    for (const [text, id] of Object.entries(addedTokensJson)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
        throw new LowbitError(`added_tokens.json: ${JSON.stringify(text)} has id ${String(id)}`);
      if (id >= n) continue;
      tokens[id] = text;
      scores[id] = -1000;
      types[id] = TOKEN_TYPE.USER_DEFINED;
    }
  }
  // tokenizer_config.json added_tokens_decoder overrides (control or user-defined, score -1000)
  const atd =
    isObj(tokenizerConfig) && isObj(tokenizerConfig.added_tokens_decoder) ? tokenizerConfig.added_tokens_decoder : {};
  for (const [k, d] of Object.entries(atd)) {
    const id = Number(k);
    if (!Number.isInteger(id) || id < 0 || id >= n || !isObj(d) || typeof d.content !== 'string') continue;
    let text = d.content;
    if (d.special === true || looksSpecial(text)) types[id] = TOKEN_TYPE.CONTROL;
    else {
      text = text.replaceAll('\u2581', ' ');
      types[id] = TOKEN_TYPE.USER_DEFINED;
    }
    scores[id] = -1000;
    tokens[id] = text;
  }
  return { model: 'llama', pre: 'default', tokens, scores, tokenTypes: types };
}

function vocabMap(model: Obj): Map<number, string> {
  if (!isObj(model.vocab)) throw new LowbitError('tokenizer.json: model.vocab is not an object');
  const m = new Map<number, string>();
  for (const [tok, id] of Object.entries(model.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0)
      throw new LowbitError(`tokenizer.json: token ${JSON.stringify(tok)} has id ${String(id)}`);
    if (m.has(id as number)) throw new LowbitError(`tokenizer.json: id ${String(id)} is used twice`);
    m.set(id as number, tok);
  }
  return m;
}

/** Merges as "a b" strings; the newer [a, b] pair form has spaces encoded as U+0120 like gguf-py. */
function mergeList(model: Obj): string[] {
  const merges = model.merges;
  if (!Array.isArray(merges)) return [];
  return merges.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      return `${m[0].replaceAll(' ', '\u0120')} ${m[1].replaceAll(' ', '\u0120')}`;
    }
    throw new LowbitError(`tokenizer.json: merge ${i} is malformed`);
  });
}

function fromLlamaBpeJson(tj: Obj, model: Obj): HfVocab {
  const byId = vocabMap(model);
  const added = addedTokens(tj);
  const specialIds = new Set(added.filter((a) => a.special).map((a) => a.id));
  const base = byId.size;
  for (let i = 0; i < base; i++)
    if (!byId.has(i)) throw new LowbitError(`tokenizer.json: vocab has no token with id ${i}`);
  // score by merge rank: a merged token's rank is the first merge that produces it
  const rank = new Map<string, number>();
  mergeList(model).forEach((m, r) => {
    const sp = m.indexOf(' ');
    const t = m.slice(0, sp) + m.slice(sp + 1);
    if (!rank.has(t)) rank.set(t, r);
  });
  const extra = added.filter((a) => a.id >= base).sort((a, b) => a.id - b.id);
  const n = base + extra.length;
  const tokens: string[] = [];
  const scores = new Float32Array(n);
  const types = new Int32Array(n);
  for (let id = 0; id < base; id++) {
    const t = byId.get(id)!;
    tokens.push(t);
    scores[id] = rank.has(t) ? -rank.get(t)! : 0;
    types[id] = /^<0x[0-9A-Fa-f]{2}>$/.test(t)
      ? TOKEN_TYPE.BYTE
      : specialIds.has(id)
        ? TOKEN_TYPE.CONTROL
        : TOKEN_TYPE.NORMAL;
  }
  extra.forEach((a, k) => {
    if (a.id !== base + k)
      throw new LowbitError(`tokenizer.json: added token ids are not contiguous after the vocab (id ${a.id})`);
    tokens.push(a.content);
    scores[a.id] = -1000;
    types[a.id] = a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  });
  return { model: 'llama', pre: 'default', tokens, scores, tokenTypes: types };
}

// pre-tokenizer split patterns of known byte-level BPE families (as their tokenizer.json hold them)
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// o200k (gpt-4o; gpt-oss's o200k_harmony and Phi-4-mini use the same split)
const O200K_REGEX =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** tokenizer.ggml.pre from the pre_tokenizer's structure; undefined when not recognised. */
export function detectPre(tj: Obj): string | undefined {
  const pt = tj.pre_tokenizer;
  const parts: Obj[] = isObj(pt)
    ? pt.type === 'Sequence' && Array.isArray(pt.pretokenizers)
      ? pt.pretokenizers.filter(isObj)
      : [pt]
    : [];
  const regexes = parts
    .filter((p) => p.type === 'Split' && isObj(p.pattern) && typeof p.pattern.Regex === 'string')
    .map((p) => (p.pattern as Obj).Regex as string);
  const byteLevel = parts.find((p) => p.type === 'ByteLevel');
  const digits = parts.find((p) => p.type === 'Digits');
  if (regexes.includes(LLAMA3_REGEX)) return 'llama-bpe';
  if (regexes.includes(QWEN2_REGEX)) return 'qwen2';
  if (regexes.includes(O200K_REGEX)) return 'gpt-4o';
  if (regexes.length === 0 && byteLevel && digits && digits.individual_digits === true) return 'smollm';
  if (regexes.length === 0 && byteLevel && !digits && byteLevel.use_regex !== false) return 'gpt-2';
  return undefined;
}

const PRE_NAMES = [
  'default',
  'llama-bpe',
  'llama3',
  'qwen2',
  'smollm',
  'gpt-2',
  'starcoder',
  'deepseek-llm',
  'deepseek-coder',
  'falcon',
  'mpt',
  'refact',
  'command-r',
  'olmo',
  'dbrx',
  'stablelm2',
  'tekken',
  'gpt-4o',
];

function fromByteLevelBpe(tj: Obj, model: Obj, cfg: HfConfig, preOpt?: string): HfVocab {
  let hashed: string | undefined;
  // a tokenizer the encoder cannot model (or a pattern JavaScript cannot compile) falls back to the structure check
  if (!preOpt) {
    try {
      hashed = preTokenizerHash(tj).pre;
    } catch {
      hashed = undefined;
    }
  }
  const pre = preOpt ?? hashed ?? detectPre(tj);
  if (!pre) {
    throw new LowbitError(
      "tokenizer.json: byte-level BPE with a pre-tokenizer lowbit does not recognise; pass --pre NAME (llama.cpp's tokenizer.ggml.pre, e.g. llama-bpe, qwen2, smollm, gpt-2)",
    );
  }
  if (preOpt && !PRE_NAMES.includes(preOpt))
    throw new LowbitError(`--pre ${preOpt}: expected one of ${PRE_NAMES.join(', ')}`, 'EUSAGE');
  const byId = vocabMap(model);
  const added = addedTokens(tj);
  for (const a of added) byId.set(a.id, a.content);
  const addedById = new Map(added.map((a) => [a.id, a]));
  const maxId = Math.max(-1, ...byId.keys());
  const n = Math.max(cfg.vocabSize, maxId + 1);
  if (maxId >= cfg.vocabSize)
    throw new LowbitError(`tokenizer.json: token id ${maxId} is outside config.json vocab_size ${cfg.vocabSize}`);
  const tokens: string[] = [];
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = byId.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types[i] = TOKEN_TYPE.UNUSED;
      continue;
    }
    const a = addedById.get(i);
    if (a) {
      if (a.special || looksSpecial(t)) {
        types[i] = TOKEN_TYPE.CONTROL;
        tokens.push(t);
      } else {
        types[i] = TOKEN_TYPE.USER_DEFINED;
        tokens.push(t.replaceAll('\u2581', ' '));
      }
    } else {
      types[i] = TOKEN_TYPE.NORMAL;
      tokens.push(t);
    }
  }
  const merges = mergeList(model);
  if (merges.length === 0) throw new LowbitError('tokenizer.json: byte-level BPE without merges');
  return { model: 'gpt2', pre, tokens, tokenTypes: types, merges };
}

/** _set_vocab_gpt2: tokenizer.json byte-level BPE with gguf-py's SpecialVocab. */
export function buildByteLevelBpeVocab(files: HfTokenizerFiles, cfg: HfConfig, opts: { pre?: string } = {}): HfVocab {
  const tj = isObj(files.tokenizerJson) ? files.tokenizerJson : undefined;
  const model = isObj(tj?.model) ? (tj!.model as Obj) : undefined;
  if (!tj || !model || model.type !== 'BPE')
    throw new LowbitError('the model directory needs a byte-level BPE tokenizer.json');
  const v = fromByteLevelBpe(tj, model, cfg, opts.pre);
  applySpecialVocab(v, tj, files.tokenizerConfig, cfg, files.chatTemplateFile);
  return v;
}

/**
 * gguf-py SpecialVocab: tokenizer.json's post_processor (TemplateProcessing's leading / trailing
 * special token → add_bos / add_eos, and the bos token when tokenizer_config names none), then
 * tokenizer_config.json (chat_template, add_*_token, *_token ids by content among tokenizer.json's
 * added tokens), then config.json *_token_id; the first id found for a type wins, and keys are
 * written in the order they were found.
 */
export function applySpecialVocab(
  v: HfVocab,
  tj: Obj | undefined,
  tokenizerConfig: unknown,
  cfg: HfConfig,
  chatTemplateFile?: string,
): void {
  const n = v.tokens.length;
  const added = addedTokens(tj);
  const types = ['bos', 'eos', 'unk', 'pad'] as const;
  type Typ = (typeof types)[number];
  const ids = new Map<Typ, number>();
  const adds = new Map<'bos' | 'eos', boolean>();
  const set = (typ: Typ, id: unknown) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || ids.has(typ)) return;
    if (id < 0) throw new LowbitError(`invalid ${typ} token id ${id}`);
    if (id < n) ids.set(typ, id);
  };
  const tc = isObj(tokenizerConfig) ? { ...tokenizerConfig } : undefined;
  if (tj) {
    let specialBos = tc?.bos_token,
      specialCls = tc?.cls_token;
    const specialEos = tc?.eos_token;
    const pp = tj.post_processor;
    const procs = isObj(pp) ? (Array.isArray(pp.processors) ? pp.processors : [pp]) : [];
    for (const p of procs) {
      if (!isObj(p) || p.type !== 'TemplateProcessing' || !Array.isArray(p.single) || p.single.length <= 1) continue;
      const sp = (x: unknown) =>
        isObj(x) && isObj(x.SpecialToken) && typeof x.SpecialToken.id === 'string' && x.SpecialToken.id
          ? x.SpecialToken.id
          : undefined;
      const first = sp(p.single[0]);
      if (first !== undefined) {
        if (tc && first !== specialBos && first !== specialCls) {
          if (!specialBos) tc.bos_token = specialBos = first;
          if (!specialCls) tc.cls_token = specialCls = first;
        }
        adds.set('bos', first === specialBos || first === specialCls);
      }
      const last = sp(p.single[p.single.length - 1]);
      // a trailing token other than the eos makes SpecialVocab move the eos to an eot/eom id, which
      // lowbit does not write: such tokenizers keep their add_eos from tokenizer_config.json only
      if (last !== undefined && (!tc || last === specialEos)) adds.set('eos', true);
    }
  }
  if (tc) {
    const ct = tc.chat_template ?? chatTemplateFile;
    if (typeof ct === 'string') v.chatTemplate = ct;
    for (const typ of types) {
      const add = tc[`add_${typ}_token`];
      if ((typ === 'bos' || typ === 'eos') && typeof add === 'boolean') adds.set(typ, add);
      const e = tc[`${typ}_token`];
      const content = typeof e === 'string' ? e : isObj(e) && typeof e.content === 'string' ? e.content : undefined;
      if (content === undefined) continue;
      set(typ, added.find((a) => a.content === content)?.id);
    }
  } else if (chatTemplateFile !== undefined) v.chatTemplate = chatTemplateFile;
  for (const typ of types) set(typ, cfg.raw[`${typ}_token_id`]);
  v.bosId = ids.get('bos');
  v.eosId = ids.get('eos');
  v.unkId = ids.get('unk');
  v.padId = ids.get('pad');
  v.addBos = adds.get('bos');
  v.addEos = adds.get('eos');
  v.specialOrder = [...ids.keys()];
  v.addOrder = [...adds.keys()];
}
