// Child process for the atomic-output tests: opens an atomic output, writes some bytes, says
// "ready" with its temp path, then waits to be killed.
import { openAtomicOutput } from '../../src/node/atomic-output.js';

const target = process.argv[2]!;
const out = await openAtomicOutput(target);
await out.sink.write(new TextEncoder().encode('partial output'));
process.stdout.write(`ready ${out.tempPath}\n`);
setInterval(() => {}, 1000);
