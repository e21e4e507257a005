// Entry of the WebAssembly kernels (AssemblyScript). scripts/build-wasm.mjs compiles this into
// kernels.wasm.ts; kernels.ts loads it. The TypeScript codecs in ../ggml stay the reference.
export { f32_to_f16, f32_to_bf16, f16_to_f32, bf16_to_f32, f32_any_nonfinite } from './float';
export {
  q8_0_quant, q4_0_quant, q4_1_quant, q5_0_quant, q5_1_quant,
  q8_0_dequant, q4_0_dequant, q4_1_dequant, q5_0_dequant, q5_1_dequant,
} from './legacy';
export {
  q2_K_quant, q3_K_quant, q4_K_quant, q5_K_quant, q6_K_quant,
  q2_K_quant_imatrix, q3_K_quant_imatrix, q4_K_quant_imatrix, q5_K_quant_imatrix, q6_K_quant_imatrix,
} from './kquants';

/** First free byte after the module's static data: where the JS side puts its buffers. */
export function heapBase(): usize {
  return __heap_base;
}
export { q4_0_quant_imatrix, q4_1_quant_imatrix, q5_0_quant_imatrix, q5_1_quant_imatrix } from './imatrix';
export {
  q2_K_dequant, q3_K_dequant, q4_K_dequant, q5_K_dequant, q6_K_dequant,
  iq4_nl_dequant, iq4_xs_dequant, tq1_0_dequant, tq2_0_dequant, mxfp4_dequant,
} from './dequant';
export { tq1_0_quant, tq2_0_quant } from './ternary';
export { mxfp4_quant } from './mxfp4';
export { iq3_xxs_quant, iq3_s_quant, iq3_xxs_quant_imatrix, iq3_s_quant_imatrix, iq3_failed, iq3_tables_end } from './iq3';
export { iq2_s_quant, iq2_s_quant_imatrix, iq2_xxs_quant_imatrix, iq2_xs_quant_imatrix, iq1_s_quant_imatrix, iq2_failed, iq2_init } from './iq2';
export { iq1_m_dequant, iq1_s_dequant, iq2_xxs_dequant, iq2_xs_dequant, iq2_s_dequant, iq3_s_dequant, iq3_xxs_dequant } from './iqdeq';
export { q2_0_quant, q2_0_dequant } from './q2_0';
export { iq1_m_quant, iq1_m_quant_imatrix } from './iq1m';
