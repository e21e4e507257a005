// Node glue for `lowbit convert`: opens the input files, runs a converter, and writes the GGUF
// through a temp file renamed into place, so a failed run never leaves a half-written output.
import { open, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { FileSource, FileSink } from './file-io.js';
import { readLlama2cCheckpoint, readLlama2cTokenizer } from '../io/llama2c.js';
import { convertLlama2c } from '../convert/llama2c.js';
import { byteVocab, vocabFromLlama2cTokenizer } from '../convert/llama2c-vocab.js';
import { writeConvertedGguf, type WriteProgress } from '../convert/write-gguf.js';
import type { ConvertedModel, StoreType } from '../convert/model.js';
import type { ByteSink } from '../io/source.js';

/** Writes to `<out>.tmp-<pid>` and renames it to `out` on success; removes it on failure. */
export async function withAtomicOutput(out: string, write: (sink: ByteSink) => Promise<void>): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, 'wx');
  try {
    await write(new FileSink(fh));
    await fh.sync();
    await fh.close();
    await rename(tmp, out);
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

export interface ConvertSummary {
  tensors: number;
  vocab: number;
  tokenizer: string;
}

export async function convertLlama2cFiles(modelPath: string, tokenizerPath: string | undefined, outPath: string, outType: StoreType, progress?: WriteProgress): Promise<ConvertSummary> {
  const src = await FileSource.open(modelPath);
  try {
    const ckpt = await readLlama2cCheckpoint(src);
    let vocab;
    if (tokenizerPath) {
      const tsrc = await FileSource.open(tokenizerPath);
      try { vocab = vocabFromLlama2cTokenizer(await readLlama2cTokenizer(tsrc, ckpt.config.vocabSize)); } finally { await tsrc.close(); }
    } else vocab = byteVocab(ckpt.config.vocabSize);
    const name = basename(modelPath).replace(/\.bin$/, '');
    const model: ConvertedModel = convertLlama2c(src, ckpt, vocab, { name });
    await withAtomicOutput(outPath, (sink) => writeConvertedGguf(sink, model, outType, progress));
    return { tensors: model.tensors.length, vocab: vocab.tokens.length, tokenizer: tokenizerPath ? 'llama2.c tokenizer.bin' : 'byte-level stand-in (no --tokenizer)' };
  } finally {
    await src.close();
  }
}
