// The hyper-parameters llama.cpp's quantization rules look at, read from GGUF metadata the way
// llama_model_loader reads them ({arch}.block_count, head counts of layer 0, expert_count).
import { LowbitError } from '../errors.js';
import { metaArray, metaInt, metaString, type GgufMetadata } from '../io/gguf/metadata.js';
import type { ModelInfo } from './tensor-rules.js';

/** First element of a per-layer array, or the scalar. */
function perLayer0(m: GgufMetadata, key: string): number | undefined {
  const v = m.get(key);
  if (v?.type === 'array') {
    const a = metaArray(m, key)!;
    const first = (a.items as ArrayLike<number | bigint>)[0];
    return first === undefined ? undefined : Number(first);
  }
  return metaInt(m, key);
}

export function modelInfoFromMetadata(m: GgufMetadata, fileName = 'model'): ModelInfo {
  const arch = metaString(m, 'general.architecture');
  if (!arch) throw new LowbitError(`${fileName}: no general.architecture in the GGUF metadata`);
  const nLayer = metaInt(m, `${arch}.block_count`);
  if (nLayer === undefined) throw new LowbitError(`${fileName}: no ${arch}.block_count in the GGUF metadata`);
  const nHead = perLayer0(m, `${arch}.attention.head_count`) ?? 0;
  // llama.cpp defaults head_count_kv to head_count
  const nHeadKv = perLayer0(m, `${arch}.attention.head_count_kv`) ?? nHead;
  const nExpert = metaInt(m, `${arch}.expert_count`) ?? 0;
  return { arch, nLayer, nHead, nHeadKv, nExpert, is70B: is70B(arch, nLayer, nHead, nHeadKv, nExpert) };
}

/** The architectures whose loaders call a model LLM_TYPE_70B (only this type changes a rule). */
export function is70B(arch: string, nLayer: number, nHead: number, nHeadKv: number, nExpert: number): boolean {
  switch (arch) {
    case 'llama':
      return nExpert !== 8 && nLayer === 80 && nHead !== nHeadKv;
    case 'deci':
    case 'olmo':
    case 'qwen2':
      return nLayer === 80;
    case 'jais2':
      return nLayer === 68;
    default:
      return false;
  }
}
