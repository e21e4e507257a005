// lowbit's browser-safe library: numeric formats and block codecs, model file parsers and writers
// over byte sources, quantization plans, converters and analysis. Node-only pieces (files, worker
// threads, engines) are in 'lowbit/node'.
export * from './errors.js';
export * from './formats/codec.js';
export * from './formats/ggml-types.js';
export * from './formats/half.js';
export * from './formats/registry.js';
export {
  quantizeRowsGptq,
  gptqFactor,
  gptqFactorDamped,
  momentsQuadratic,
  GPTQ_DAMP,
  type SecondMoments,
} from './formats/gptq.js';
export { codeSlots, codeLevels, type CodeSlots } from './formats/code-slots.js';
export * from './io/source.js';
export * as gguf from './io/gguf/index.js';
export * as safetensors from './io/safetensors/index.js';
export * as llama2c from './io/llama2c.js';
export * as imatrix from './io/imatrix.js';
export * as imatrixCollect from './imatrix/index.js';
export * as plan from './plan/index.js';
export * as pipeline from './pipeline/index.js';
export * as teach from './teach/levels.js';
export { describeFormat, type FormatDescription } from './teach/formats.js';
export { compareGguf, weightHistogram, type GgufComparison, type TensorComparison } from './analysis/compare-gguf.js';
export * from './analysis/error-stats.js';
export * as onnx from './io/onnx/model.js';
export {
  quantizeOnnxModel,
  VARIANTS as ONNX_VARIANTS,
  VARIANT_SUFFIX as ONNX_VARIANT_SUFFIX,
  type OnnxQuantOptions,
} from './onnx/variants.js';
export * as scalar from './formats/scalar/registry.js';
export { quantizeIntn, dequantizeIntn } from './formats/scalar/intn.js';
export { quantizeFp8, dequantizeFp8 } from './formats/scalar/fp8-tensor.js';
