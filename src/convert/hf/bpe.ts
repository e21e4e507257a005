// A minimal byte-level BPE encoder for Hugging Face tokenizer.json files, as the `tokenizers`
// library encodes (added tokens split out first, NFC normalizer, Split / ByteLevel / Digits
// pre-tokenizers, BPE with merge ranks and ignore_merges, TemplateProcessing post-processor).
// lowbit uses it for what convert_hf_to_gguf.py's get_vocab_base_pre does with transformers:
// encode a fixed check text and hash the ids to recognise the pre-tokenizer (pre-hash.ts).
// Anything this encoder does not model (other normalizers, pre-tokenizers or split behaviours) is
// refused with a LowbitError, so an unknown tokenizer never gets a wrong hash silently.
// Differences from Oniguruma kept in mind: split regexes run as JavaScript Unicode regexes, with
// (?i:…) groups expanded to character classes.
import { LowbitError } from '../../errors.js';

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

/** GPT-2's byte → printable character table (bytes_to_unicode) */
export function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => {
    out[b] = String.fromCodePoint(cs[i]!);
  });
  return out;
}

const GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** An Oniguruma pattern as a JavaScript regex: (?i:…) groups become explicit case classes. */
export function jsRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length;) {
    if (pattern.startsWith('(?i:', i)) {
      let depth = 1,
        j = i + 4,
        body = '';
      for (; j < pattern.length && depth > 0; j++) {
        const ch = pattern[j]!;
        if (ch === '\\') {
          body += ch + pattern[j + 1];
          j++;
          continue;
        }
        if (ch === '(') depth++;
        if (ch === ')') {
          depth--;
          if (depth === 0) break;
        }
        body += ch;
      }
      out +=
        '(?:' +
        body.replace(/\\.|[a-zA-Z]/g, (c) =>
          c.length === 1 && c.toLowerCase() !== c.toUpperCase() ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c,
        ) +
        ')';
      i = j + 1;
      continue;
    }
    if (pattern[i] === '\\') {
      out += pattern.slice(i, i + 2);
      i += 2;
      continue;
    }
    out += pattern[i++];
  }
  return new RegExp(out, 'gu');
}

/** Split behaviour "Isolated" (matches and the text between them are pieces) or "Removed". */
function splitBy(s: string, re: RegExp, behavior: string, invert: boolean): string[] {
  if (invert) throw new LowbitError('tokenizer.json: inverted Split pre-tokenizers are not supported', 'EUNSUPPORTED');
  const out: string[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (const m of s.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (m.index! > last) out.push(s.slice(last, m.index));
    if (behavior === 'Isolated') out.push(m[0]);
    else if (behavior !== 'Removed')
      throw new LowbitError(`tokenizer.json: Split behaviour ${behavior} is not supported`, 'EUNSUPPORTED');
    last = m.index! + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}

type PreStep = (pieces: string[]) => string[];

function preStep(p: Obj, b2u: string[]): PreStep[] {
  switch (p.type) {
    case 'Sequence':
      return (Array.isArray(p.pretokenizers) ? p.pretokenizers : []).filter(isObj).flatMap((q) => preStep(q, b2u));
    case 'Split': {
      const pat = isObj(p.pattern) ? p.pattern : {};
      const re =
        typeof pat.Regex === 'string'
          ? jsRegex(pat.Regex)
          : typeof pat.String === 'string'
            ? new RegExp((pat.String as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu')
            : undefined;
      if (!re) throw new LowbitError('tokenizer.json: Split pre-tokenizer without a pattern');
      return [(ps) => ps.flatMap((s) => splitBy(s, re, String(p.behavior), p.invert === true))];
    }
    case 'Digits': {
      const re = p.individual_digits === true ? /\p{N}/gu : /\p{N}+/gu;
      return [(ps) => ps.flatMap((s) => splitBy(s, re, 'Isolated', false))];
    }
    case 'ByteLevel': {
      const enc = new TextEncoder();
      const re = p.use_regex !== false ? jsRegex(GPT2_SPLIT) : undefined;
      return [
        (ps) =>
          ps
            .flatMap((s) => {
              if (p.add_prefix_space === true && !s.startsWith(' ')) s = ' ' + s;
              return re ? splitBy(s, re, 'Isolated', false) : [s];
            })
            .map((s) => Array.from(enc.encode(s), (b) => b2u[b]!).join('')),
      ];
    }
    default:
      throw new LowbitError(
        `tokenizer.json: pre-tokenizer ${String(p.type)} is not supported by lowbit's BPE encoder`,
        'EUNSUPPORTED',
      );
  }
}

function normalizer(n: unknown): (s: string) => string {
  if (n === null || n === undefined) return (s) => s;
  if (!isObj(n)) throw new LowbitError('tokenizer.json: malformed normalizer');
  if (n.type === 'NFC') return (s) => s.normalize('NFC');
  if (n.type === 'Sequence' && Array.isArray(n.normalizers)) {
    const fs = n.normalizers.map(normalizer);
    return (s) => fs.reduce((a, f) => f(a), s);
  }
  throw new LowbitError(
    `tokenizer.json: normalizer ${String(n.type)} is not supported by lowbit's BPE encoder`,
    'EUNSUPPORTED',
  );
}

export interface BpeEncoder {
  encode(text: string, addSpecialTokens?: boolean): number[];
}

/** Encoder for a byte-level BPE tokenizer.json (parsed). */
export function bpeEncoder(tj: unknown): BpeEncoder {
  if (!isObj(tj) || !isObj(tj.model) || tj.model.type !== 'BPE' || !isObj(tj.model.vocab))
    throw new LowbitError('tokenizer.json: not a BPE tokenizer');
  const model = tj.model;
  const vocab = new Map(Object.entries(model.vocab as Obj).map(([k, v]) => [k, v as number]));
  const ranks = new Map<string, number>();
  (Array.isArray(model.merges) ? model.merges : []).forEach((m, r) => {
    const [a, b] = typeof m === 'string' ? [m.slice(0, m.indexOf(' ')), m.slice(m.indexOf(' ') + 1)] : (m as string[]);
    const key = `${a} ${b}`;
    if (!ranks.has(key)) ranks.set(key, r);
  });
  const ignoreMerges = model.ignore_merges === true;
  const b2u = byteToUnicode();
  const norm = normalizer(tj.normalizer);
  const steps = isObj(tj.pre_tokenizer) ? preStep(tj.pre_tokenizer, b2u) : [];
  const added = (Array.isArray(tj.added_tokens) ? tj.added_tokens : [])
    .filter(isObj)
    .map((a) => ({ id: a.id as number, content: String(a.content) }))
    .sort((a, b) => b.content.length - a.content.length);
  const addedRe = added.length
    ? new RegExp(added.map((a) => a.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gu')
    : undefined;
  const addedId = new Map(added.map((a) => [a.content, a.id]));

  const cache = new Map<string, number[]>();
  const word = (w: string): number[] => {
    const hit = cache.get(w);
    if (hit) return hit;
    let ids: number[];
    if (ignoreMerges && vocab.has(w)) ids = [vocab.get(w)!];
    else {
      let sym = Array.from(w);
      for (;;) {
        let best = -1,
          bestRank = Infinity;
        for (let i = 0; i + 1 < sym.length; i++) {
          const r = ranks.get(`${sym[i]} ${sym[i + 1]}`);
          if (r !== undefined && r < bestRank) {
            bestRank = r;
            best = i;
          }
        }
        if (best < 0) break;
        sym = [...sym.slice(0, best), sym[best]! + sym[best + 1]!, ...sym.slice(best + 2)];
      }
      ids = sym.map((s) => {
        const id = vocab.get(s);
        if (id === undefined)
          throw new LowbitError(`tokenizer.json: symbol ${JSON.stringify(s)} is not in the vocabulary`);
        return id;
      });
    }
    cache.set(w, ids);
    return ids;
  };

  const post = tj.post_processor;
  const template = (ids: number[]): number[] => {
    const apply = (p: unknown, x: number[]): number[] => {
      if (!isObj(p)) return x;
      if (p.type === 'ByteLevel') return x;
      if (p.type === 'Sequence' && Array.isArray(p.processors))
        return p.processors.reduce((a: number[], q) => apply(q, a), x);
      if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) {
        const sp = isObj(p.special_tokens) ? p.special_tokens : {};
        return p.single.flatMap((piece) => {
          if (isObj(piece) && isObj(piece.Sequence)) return x;
          if (isObj(piece) && isObj(piece.SpecialToken)) {
            const t = sp[String(piece.SpecialToken.id)];
            return isObj(t) && Array.isArray(t.ids) ? (t.ids as number[]) : [];
          }
          return [];
        });
      }
      throw new LowbitError(
        `tokenizer.json: post-processor ${String(p.type)} is not supported by lowbit's BPE encoder`,
        'EUNSUPPORTED',
      );
    };
    return apply(post, ids);
  };

  return {
    encode(text: string, addSpecialTokens = true): number[] {
      const ids: number[] = [];
      const plain = (s: string) => {
        if (!s) return;
        let pieces = [norm(s)];
        for (const st of steps) pieces = st(pieces);
        for (const p of pieces) if (p) ids.push(...word(p));
      };
      let last = 0;
      if (addedRe) {
        for (const m of text.matchAll(addedRe)) {
          plain(text.slice(last, m.index));
          ids.push(addedId.get(m[0])!);
          last = m.index! + m[0].length;
        }
      }
      plain(text.slice(last));
      return addSpecialTokens ? template(ids) : ids;
    },
  };
}
