// The table of block formats lowbit can quantize to and from. Adding a format is adding one entry.
import type { BlockCodec } from './codec.js';
import { f32, f16, bf16 } from './ggml/float.js';
import { q4_0 } from './ggml/q4_0.js';
import { q4_1 } from './ggml/q4_1.js';
import { q5_0 } from './ggml/q5_0.js';
import { q5_1 } from './ggml/q5_1.js';
import { q8_0 } from './ggml/q8_0.js';
import { iq4_nl } from './ggml/iq4_nl.js';
import { iq4_xs } from './ggml/iq4_xs.js';
import { tq1_0 } from './ggml/tq1_0.js';
import { tq2_0 } from './ggml/tq2_0.js';
import { mxfp4 } from './ggml/mxfp4.js';
import { q2_K } from './ggml/q2_k.js';
import { q3_K } from './ggml/q3_k.js';
import { q4_K } from './ggml/q4_k.js';
import { q5_K } from './ggml/q5_k.js';
import { q6_K } from './ggml/q6_k.js';
import { iq1_m } from './ggml/iq1_m.js';
import { iq1_s } from './ggml/iq1_s.js';
import { iq2_s } from './ggml/iq2_s.js';
import { iq2_xs } from './ggml/iq2_xs.js';
import { iq2_xxs } from './ggml/iq2_xxs.js';
import { iq3_xxs } from './ggml/iq3_xxs.js';
import { iq3_s } from './ggml/iq3_s.js';
import { q1_0 } from './ggml/q1_0.js';
import { q2_0 } from './ggml/q2_0.js';
import { nvfp4 } from './ggml/nvfp4.js';

const CODECS: readonly BlockCodec[] = [
  f32,
  f16,
  bf16,
  q4_0,
  q4_1,
  q5_0,
  q5_1,
  q8_0,
  iq4_nl,
  iq4_xs,
  tq1_0,
  tq2_0,
  mxfp4,
  q2_K,
  q3_K,
  q4_K,
  q5_K,
  q6_K,
  iq2_xxs,
  iq2_xs,
  iq2_s,
  iq1_s,
  iq1_m,
  q1_0,
  q2_0,
  nvfp4,
  iq3_xxs,
  iq3_s,
];

const byName = new Map(CODECS.map((c) => [c.name.toUpperCase(), c]));
const byId = new Map(CODECS.map((c) => [c.type.id, c]));

export function codecs(): readonly BlockCodec[] {
  return CODECS;
}

/** Case-insensitive lookup by llama.cpp name ('q4_k' → Q4_K). */
export function codecByName(name: string): BlockCodec | undefined {
  return byName.get(name.toUpperCase());
}

export function codecByTypeId(id: number): BlockCodec | undefined {
  return byId.get(id);
}
