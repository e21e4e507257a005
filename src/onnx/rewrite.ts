// The node-rewrite steps the weight-quantizing handlers share, written once: MatMul/Gemm weights read
// as float [K, N] (Gemm's transB undone, alpha folded in), Gemm's refusals, its bias times beta and
// the Add that restores it, new initializers under fresh names made from the weight's, the
// replacement node (com.microsoft ops included), the bytes of MatMulNBits-style 4-bit blocks, and
// the options every pass takes. Browser-safe.
import type { NodeProto, TensorProto } from '../io/onnx/proto/onnx_pb.js';
import { DT, float32Tensor, makeTensor, tensorToFloat32 } from '../io/onnx/tensor.js';
import { LowbitError, type LowbitErrorCode } from '../errors.js';
import { attrFloat, attrInt, node, type AttrValue } from './graph.js';
import { dimsOf, transpose } from './common.js';
import type { NodeSelection, PassContext, PassSpec } from './pass.js';

/** What every weight pass takes besides its own options: node selection and dry runs. */
export interface PassOptions extends NodeSelection {
  /** plan only: report what would happen, change nothing */
  dryRun?: boolean;
}

/** The selection and dry-run part of a pass's spec, from its options. */
export function selection(o: PassOptions): Pick<PassSpec<unknown>, 'dryRun' | 'opTypes' | 'excludeNodes'> {
  return { dryRun: o.dryRun, opTypes: o.opTypes, excludeNodes: o.excludeNodes };
}

/** A block size the pass's format allows, or a usage error naming the allowed ones. */
export function checkBlockSize(bs: number, sizes: readonly number[], what: string, code?: LowbitErrorCode): void {
  if (!sizes.includes(bs)) throw new LowbitError(`${what} must be one of ${sizes.join(', ')}, not ${bs}`, code);
}

/** The name replacement nodes are named after: the node's, or its first output's. */
export function baseName(n: NodeProto): string {
  return n.name || n.output[0]!;
}

/** A 2-D weight's values f of dims [rows, cols] as [K, N]: Gemm's transB (rows = N) undone, a copy only if transposed. */
export function weightKN(f: Float32Array, dims: number[], transB: boolean): { wf: Float32Array; K: number; N: number } {
  const [r, c] = dims as [number, number];
  return transB ? { wf: transpose(f, r, c), K: c, N: r } : { wf: f, K: r, N: c };
}

/** Gemm's transB attribute (any nonzero value transposes, as in ONNX Runtime's Gemm). */
export function transB(n: NodeProto): boolean {
  return attrInt(n, 'transB', 0) !== 0;
}

/** Gemm's alpha folded into its weight (rounded to float32 as ONNX Runtime's float product is). */
export function foldAlpha(n: NodeProto, wf: Float32Array): Float32Array {
  const alpha = attrFloat(n, 'alpha', 1);
  return alpha !== 1 ? wf.map((v) => Math.fround(v * alpha)) : wf;
}

/**
 * Why a Gemm cannot become a plain product of its input and weight: transA, or (for replacements
 * that add a constant bias themselves) a bias that is not a constant. Undefined when it can.
 */
export function gemmRefusal(n: NodeProto, inits: Map<string, TensorProto>, constantBias: boolean): string | undefined {
  if (attrInt(n, 'transA', 0)) return 'Gemm with transA';
  if (constantBias && n.input[2] && !inits.has(n.input[2])) return 'Gemm bias is not a constant';
  return undefined;
}

/** The name of Gemm's bias times beta: the bias itself, a new initializer, or (not a constant) a Mul. */
export function gemmBias(n: NodeProto, bias: string, ctx: PassContext<unknown>): string {
  const beta = attrFloat(n, 'beta', 1);
  if (beta === 1) return bias;
  const bt = ctx.inits.get(bias);
  const b = ctx.namer.fresh(`${bias}_beta`);
  if (bt) {
    ctx.addInit(
      float32Tensor(
        b,
        dimsOf(bt),
        tensorToFloat32(bt).map((v) => Math.fround(v * beta)),
      ),
    );
  } else {
    const s = addFloats(ctx, `${bias}_beta_value`, [], Float32Array.of(beta));
    emit(ctx, 'Mul', [bias, s], [b], `${baseName(n)}_beta`);
  }
  return b;
}

/** Where the product goes when a bias Add follows it (a fresh name), or the node's own output. */
export function productOutput(n: NodeProto, hasBias: boolean, ctx: PassContext<unknown>): string {
  return hasBias ? ctx.namer.fresh(`${n.output[0]!}_no_bias`) : n.output[0]!;
}

/** The Add of the bias after the product, writing the original node's output. */
export function addBias(n: NodeProto, product: string, bias: string, ctx: PassContext<unknown>): void {
  emit(ctx, 'Add', [product, bias], [n.output[0]!], `${baseName(n)}_bias_add`);
}

/** ONNX Runtime's contrib ops' domain (MatMulNBits, MatMulBnb4, GatherBlockQuantized ...) */
export const MS_DOMAIN = 'com.microsoft';

/** Appends a new node, named freshly from `name`, to the graph's new node list; returns it. */
export function emit(
  ctx: PassContext<unknown>,
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: Record<string, AttrValue> = {},
  domain = '',
): NodeProto {
  const n = node(opType, inputs, outputs, ctx.namer.fresh(name), attrs, domain);
  ctx.out.push(n);
  return n;
}

/** A new initializer of raw bytes under a fresh name made from `name`; returns the name. */
export function addTensor(
  ctx: PassContext<unknown>,
  name: string,
  dataType: number,
  dims: number[],
  bytes: Uint8Array,
): string {
  const t = ctx.namer.fresh(name);
  ctx.addInit(makeTensor(t, dataType, dims, bytes));
  return t;
}

/** A new float32 initializer under a fresh name made from `name`; returns the name. */
export function addFloats(ctx: PassContext<unknown>, name: string, dims: number[], values: Float32Array): string {
  const t = ctx.namer.fresh(name);
  ctx.addInit(float32Tensor(t, dims, values));
  return t;
}

/** Signed or unsigned 8-bit codes as the bytes an INT8/UINT8 tensor stores. */
export function int8Bytes(q: ArrayLike<number>): Uint8Array {
  return Uint8Array.from(q, (v) => v & 0xff);
}

/** An INT8 or UINT8 initializer from 8-bit codes (see addTensor). */
export function addInt8(
  ctx: PassContext<unknown>,
  name: string,
  type: 'int8' | 'uint8',
  dims: number[],
  q: ArrayLike<number>,
): string {
  return addTensor(ctx, name, type === 'int8' ? DT.INT8 : DT.UINT8, dims, int8Bytes(q));
}

/**
 * Bytes of N columns of K weights in 4-bit blocks of bs down K (MatMulNBits' and GatherBlockQuantized's
 * layout): the packed codes, a float32 scale per block, and, with zero points, a nibble per block.
 */
export function blockwise4Bytes(K: number, N: number, bs: number, zeroPoints: boolean): number {
  const blocks = Math.ceil(K / bs);
  return N * blocks * (bs / 2) + N * blocks * 4 + (zeroPoints ? N * Math.ceil(blocks / 2) : 0);
}
