// Child process for the whole-model bench: runs llama.cpp's llama_model_quantize (libllama through
// koffi, tools/llama-oracle.ts) once and prints {"seconds": …} for the call alone on stdout.
// `--noop` loads everything and quantizes nothing: the runner's own baseline RSS.
import { loadLlamaOracle } from '../tools/llama-oracle.js';
import { parseFileType } from '../src/plan/file-types.js';

const [input, output, type, threads] = process.argv.slice(2);
const llama = loadLlamaOracle();
if (!llama) throw new Error('libllama from @node-llama-cpp/linux-x64 is not available here');
if (input === '--noop') {
  console.log(JSON.stringify({ seconds: 0 }));
} else {
  if (!input || !output || !type || !threads)
    throw new Error('usage: llama-quantize-child <in> <out> <TYPE> <threads>');
  const t0 = performance.now();
  llama.quantize(input, output, { ftype: parseFileType(type).id, nthread: Number(threads) });
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000 }));
}
