// lowbit for Node: files, atomic output, the multi-threaded quantize pipeline, converters from
// files, and the engine adapters (llama.cpp through node-llama-cpp, ONNX Runtime).
export * from './index.js';
export { FileSource, FileSink } from './node/file-io.js';
export * from './node/atomic-output.js';
export * as pipeline from './node/pipeline.js';
export { quantizeGgufFile, planGgufFile } from './node/quantize-file.js';
export {
  quantizeFile,
  planQuantizeFile,
  convertHfFolder,
  convertLlama2cFile,
  inspectGgufFile,
  compareGgufFiles,
  type QuantizeFileOptions,
  type QuantizeFileResult,
  type ConvertFileOptions,
  type ConvertHfOptions,
  type ConvertLlama2cOptions,
  type GgufFileTypeName,
  type GgufFileInfo,
  type GgufTensorSummary,
} from './node/files.js';
export { loadEngine, missingEngineMessage, ENGINES, type EngineName } from './node/engines.js';
export * as convert from './node/convert-files.js';
export { quantizeOnnxFile } from './node/onnx-file.js';
export { evalGguf, generateEvalText, openKlJudge, type GgufEvalResult, type KlJudge } from './eval/llama.js';
export { measureKindSensitivity, type SensitivityOptions } from './eval/sensitivity.js';
export { engineRefiner, type EngineRefineOptions, type EngineRefiner } from './eval/refine-engine.js';
export { evalOnnx, type OnnxEvalResult } from './eval/onnx.js';
export { computeImatrixFile, type ImatrixFileOptions, type ImatrixFileResult } from './node/imatrix.js';
export { runImatrix, type ImatrixRunOptions, type ImatrixRunResult } from './node/imatrix-llama.js';
export { GptqMoments, denseWeights, gptqMemoryBudget } from './node/gptq-moments.js';
export { buildReportHtml, type ReportData } from './report/html.js';
