// A Hugging Face model folder as a ConvertedModel from any file access (the browser's directory
// picker, or a Node directory): config.json, the tokenizer files and the safetensors (one file, or
// shards by model.safetensors.index.json). Node's openHfModelDir reads the same files the same way.
import { FileFormatError, LowbitError } from '../../errors.js';
import type { ByteSource } from '../../io/source.js';
import { readSafetensorsHeader } from '../../io/safetensors/reader.js';
import { openSafetensorsSet, openShardedSafetensors, type SafetensorsSet } from '../../io/safetensors/sharded.js';
import { parseHfConfig } from './config.js';
import { buildHfVocab } from './tokenizer.js';
import { convertHf } from './convert.js';
import type { ConvertedModel } from '../model.js';

/** The files of one model folder, by plain name (no subfolders). */
export interface ModelFolder {
  /** the folder's name (the model's default name) */
  readonly name: string;
  names(): string[];
  /** a file's bytes, or undefined when the folder has no such file */
  bytes(file: string): Promise<Uint8Array | undefined>;
  open(file: string): Promise<ByteSource>;
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true }); // as Node's Buffer.toString: a BOM stays (and JSON.parse refuses it alike)

/** The folder's safetensors: model.safetensors.index.json (sharded), else model.safetensors, else the only *.safetensors. */
export async function openFolderSafetensors(folder: ModelFolder): Promise<SafetensorsSet> {
  const names = folder.names();
  const index = 'model.safetensors.index.json';
  if (names.includes(index))
    return openShardedSafetensors(`${folder.name}/${index}`, utf8.decode((await folder.bytes(index))!), (n) =>
      folder.open(n),
    );
  let file = 'model.safetensors';
  if (!names.includes(file)) {
    const all = names.filter((n) => n.endsWith('.safetensors'));
    if (all.length !== 1) {
      throw new LowbitError(
        `${folder.name}: no model.safetensors or model.safetensors.index.json${all.length ? ` (found ${all.length} other .safetensors files)` : ''}`,
      );
    }
    file = all[0]!;
  }
  const src = await folder.open(file);
  try {
    return await openSafetensorsSet([await readSafetensorsHeader(src)]);
  } catch (e) {
    await src.close();
    throw e;
  }
}

export async function openHfModel(
  folder: ModelFolder,
  opts: { pre?: string; name?: string } = {},
): Promise<{ model: ConvertedModel; close: () => Promise<void>; vocab: number; tokenizer: string }> {
  const path = (f: string) => `${folder.name}/${f}`;
  const json = (b: Uint8Array | undefined, f: string) => {
    if (!b) return undefined;
    try {
      return JSON.parse(utf8.decode(b));
    } catch (e) {
      throw new FileFormatError(path(f), `not valid JSON (${(e as Error).message})`);
    }
  };
  const config = await folder.bytes('config.json');
  if (!config) throw new LowbitError(`the model directory needs config.json: ${path('config.json')} not found`);
  const cfg = parseHfConfig(json(config, 'config.json'), path('config.json'));
  const tokenizerModel = await folder.bytes('tokenizer.model');
  const chat = await folder.bytes('chat_template.jinja');
  const vocab = buildHfVocab(
    {
      tokenizerModel,
      tokenizerJson: json(await folder.bytes('tokenizer.json'), 'tokenizer.json'),
      tokenizerConfig: json(await folder.bytes('tokenizer_config.json'), 'tokenizer_config.json'),
      chatTemplateFile: chat ? utf8.decode(chat) : undefined,
    },
    cfg,
    { pre: opts.pre },
  );
  const set = await openFolderSafetensors(folder);
  try {
    const model = convertHf(cfg, set, vocab, { name: opts.name ?? folder.name });
    const tokenizer = tokenizerModel
      ? 'tokenizer.model (SentencePiece)'
      : `tokenizer.json (${vocab.model}${vocab.pre ? `, pre ${vocab.pre}` : ''})`;
    return { model, close: () => set.close(), vocab: vocab.tokens.length, tokenizer };
  } catch (e) {
    await set.close();
    throw e;
  }
}
