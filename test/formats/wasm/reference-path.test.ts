// The existing F16/BF16 and legacy-format suites again, with the WebAssembly kernels switched off:
// the TypeScript reference must keep matching ggml on its own. (Each test file runs in its own
// process, so the switch holds for every test imported here and nowhere else.)
import { setWasmKernels } from '../../../src/formats/wasm/kernels.js';

setWasmKernels(false);
await import('../float.test.js');
await import('../ggml/legacy.test.js');
