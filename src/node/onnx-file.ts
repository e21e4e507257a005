// Node edge of the ONNX variants: read a .onnx file (and its external data), apply a variant, write the
// result atomically (temp file + rename), with external data when asked or when over 2 GiB.
import { stat } from 'node:fs/promises';
import { openAtomicOutput } from './atomic-output.js';
import { basename, dirname, join } from 'node:path';
import { FileSource } from './file-io.js';
import { refuseOutputOverInputs } from './output-guard.js';
import {
  allTensors,
  encodeModel,
  estimateSize,
  loadExternalData,
  readModel,
  writeModel,
  PROTOBUF_LIMIT,
} from '../io/onnx/model.js';
import { parseVariant, quantizeOnnxModel } from '../onnx/variants.js';
import type { ModelProto } from '../io/onnx/proto/onnx_pb.js';

/** One variant's options and what it did: the shapes the CLI and the web app share (src/onnx/options.ts). */
export type {
  OnnxVariantOptions as QuantizeOnnxFileOptions,
  OnnxVariantResult as QuantizeOnnxFileResult,
} from '../onnx/options.js';
import type {
  OnnxVariantOptions as QuantizeOnnxFileOptions,
  OnnxVariantResult as QuantizeOnnxFileResult,
} from '../onnx/options.js';

export async function quantizeOnnxFile(
  input: string,
  output: string,
  options: QuantizeOnnxFileOptions,
): Promise<QuantizeOnnxFileResult> {
  const variant = parseVariant(options.type);
  if (!options.dryRun) refuseOutputOverInputs([output], [input]);
  const { model, externalFiles, inputBytes } = await readOnnxInput(input, options.dryRun ? undefined : output);
  const report = quantizeOnnxModel(model, variant, { ...options, dryRun: false });
  const result = {
    variant,
    actions: report.actions,
    notes: report.notes,
    unquantized: report.unquantized,
    weightBytes: report.weightBytes,
    inputBytes,
  };
  // the plan's predicted size is the real encoded size of the transformed model (nothing written)
  if (options.dryRun) return { ...result, outputBytes: estimateEncoded(model), dryRun: true };
  const w = await writeOnnxOutput(model, output, [input, ...externalFiles], !!options.externalData);
  return { ...result, outputBytes: w.bytes, externalDataFile: w.dataName, dryRun: false };
}

/**
 * The model with its external data loaded, the files that data came from, and the input's bytes (the
 * file plus its external tensors). Writing to output (when given) must not overwrite any of them.
 */
async function readOnnxInput(
  input: string,
  output: string | undefined,
): Promise<{ model: ModelProto; externalFiles: string[]; inputBytes: number }> {
  const src = await FileSource.open(input);
  let model;
  try {
    model = await readModel(src);
  } finally {
    await src.close();
  }
  const dir = dirname(input);
  const external = new Set([...allTensors(model)].filter((t) => t.externalData.length));
  // its external data files are inputs too: refused as outputs before they are read
  const externalFiles = [
    ...new Set(
      [...external].map((t) => t.externalData.find((e) => e.key === 'location')?.value).filter((l): l is string => !!l),
    ),
  ].map((l) => join(dir, l));
  if (output)
    refuseOutputOverInputs([output, join(dirname(output), `${basename(output)}_data`)], [input, ...externalFiles]);
  await loadExternalData(model, (loc) => FileSource.open(join(dir, loc)), input);
  let inputBytes = (await stat(input)).size;
  for (const t of allTensors(model)) if (t.rawData.length && external.has(t)) inputBytes += t.rawData.length;
  return { model, externalFiles, inputBytes };
}

/**
 * Writes the model atomically, its tensors in a side file `<output>_data` when asked or when over
 * protobuf's 2 GiB: the bytes written and the side file's name.
 */
async function writeOnnxOutput(
  model: ModelProto,
  output: string,
  inputs: string[],
  externalData: boolean,
): Promise<{ bytes: number; dataName?: string }> {
  const useExternal = externalData || estimateSize(model) > PROTOBUF_LIMIT;
  const dataName = `${basename(output)}_data`;
  const modelOut = await openAtomicOutput(output, { inputs });
  const dataOut = useExternal
    ? await openAtomicOutput(join(dirname(output), dataName), { inputs }).catch(async (e) => {
        await modelOut.abort();
        throw e;
      })
    : undefined;
  try {
    const r = await writeModel(
      model,
      modelOut.sink,
      dataOut ? { externalData: { location: dataName } } : {},
      dataOut?.sink,
    );
    // the side file is committed first: a model file never points at data that is not there
    if (dataOut) await dataOut.commit();
    await modelOut.commit();
    return { bytes: r.modelBytes + r.dataBytes, dataName: useExternal ? dataName : undefined };
  } catch (e) {
    await modelOut.abort();
    if (dataOut) await dataOut.abort();
    throw e;
  }
}

function estimateEncoded(model: ModelProto): number {
  const est = estimateSize(model);
  return est > PROTOBUF_LIMIT ? est : encodeModel(model).length;
}
