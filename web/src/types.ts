// ggml type names a user can ask for per tensor (--tensor-type, --output-tensor-type ...).
import { codecs } from '../../src/formats/registry.js';

export function ggmlTypes(): string[] {
  return codecs().map((c) => c.type.ggmlName.toUpperCase());
}
