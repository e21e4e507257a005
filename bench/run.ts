// `npm run bench`: throughput per format against ggml, then whole-model quantization against
// llama.cpp's llama_model_quantize. Prints the machine, medians, and ratios.
import os from 'node:os';
import { benchFormats } from './formats.js';

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}-${os.arch()}`;
}

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('--'));
console.log(`machine: ${machine()}`);
console.log('single-thread throughput, MB/s of float32 (median of 5); ratio = lowbit / ggml reference C');
console.log('format      quant lowbit   quant ggml   ratio   dequant lowbit   dequant ggml   ratio');
for (const r of benchFormats(only.length ? only : undefined)) {
  console.log(
    `${r.name.padEnd(8)} ${r.quantLowbit.toFixed(1).padStart(14)} ${r.quantGgml.toFixed(1).padStart(12)} ${(r.quantLowbit / r.quantGgml).toFixed(2).padStart(7)}` +
      ` ${r.dequantLowbit.toFixed(1).padStart(16)} ${r.dequantGgml.toFixed(1).padStart(14)} ${(r.dequantLowbit / r.dequantGgml).toFixed(2).padStart(7)}`,
  );
}
