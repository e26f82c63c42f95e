/**
 * ONNX protobuf editing for the quantiser, on the maintained `onnx-proto` schema (protobufjs): decode/encode, typed
 * access to initializers, element-type inference, the opset upgrade to 13 that per-channel QDQ needs, and a
 * topological sort. Nothing here runs a model.
 */
import onnxProto from 'onnx-proto';
import { FaceGateError } from '../core/errors.js';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;

/** ONNX element types used here (TensorProto.DataType). */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;

/** protobufjs gives int64 fields as Long objects (or numbers); this reads either. */
export function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === 'function') return (v as { toNumber: () => number }).toNumber();
  return Number(v ?? 0);
}

/** Decodes model bytes. A file that is not an ONNX protobuf gives QUANTIZE_UNSUPPORTED naming the file. */
export function decodeModel(bytes: Uint8Array, label: string): ModelProto {
  let m: ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `${label} is not a readable ONNX model: ${(e as Error).message}`, { cause: e, details: { model: label } });
  }
  if (!m.graph || !m.graph.node || m.graph.node.length === 0) {
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `${label} has no graph nodes (corrupt or not an ONNX model)`, { details: { model: label } });
  }
  return m;
}

export function encodeModel(m: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(m).finish();
}

/** A deep copy (encode + decode), so calibration edits never leak into the model being quantised. */
export function cloneModel(m: ModelProto): ModelProto {
  return onnx.ModelProto.decode(encodeModel(m));
}

/** Copies bytes into a fresh, aligned buffer (protobufjs raw fields may be unaligned views). */
function alignedBytes(raw: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(raw.byteLength);
  out.set(raw);
  return out.buffer;
}

/** The float32 values of an initializer (raw_data or float_data). */
export function tensorFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new FaceGateError('QUANTIZE_UNSUPPORTED', `initializer ${t.name} is type ${t.dataType}, expected float32`);
  if (t.rawData && t.rawData.length > 0) return new Float32Array(alignedBytes(t.rawData));
  return Float32Array.from(t.floatData ?? []);
}

/** The int64 values of an initializer, as numbers. */
export function tensorInt64s(t: TensorProto): number[] {
  if (t.rawData && t.rawData.length > 0) return Array.from(new BigInt64Array(alignedBytes(t.rawData)), Number);
  return (t.int64Data ?? []).map(toNum);
}

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(toNum);
}

/** Builds an initializer from typed values (stored as raw_data, little-endian like every ONNX writer). */
export function makeTensor(name: string, dataType: number, dims: readonly number[], values: Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
}

export function makeNode(opType: string, name: string, inputs: string[], outputs: string[], attrs: onnxProto.onnx.IAttributeProto[] = []): NodeProto {
  return onnx.NodeProto.create({ opType, name, input: inputs, output: outputs, attribute: attrs, domain: '' });
}

export function intAttr(name: string, i: number): onnxProto.onnx.IAttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
}

export function getAttr(node: NodeProto, name: string): onnxProto.onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** The node's display name for error messages: its name, else its op and first output. */
export function nodeLabel(node: NodeProto): string {
  return node.name ? `${node.name} (${node.opType})` : `${node.opType} -> ${(node.output ?? [])[0] ?? '?'}`;
}

/** The default-domain opset the model imports. */
export function defaultOpset(m: ModelProto): number {
  const e = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return e ? toNum(e.version) : 0;
}

/**
 * Ops whose semantics did not change between opset `minOpset` and 13 for the forms these CNNs use, so the opset import
 * can be raised to 13 (needed for per-channel DequantizeLinear) without rewriting them. Ops with an `upgrade` rule are
 * rewritten; any other op stops the quantiser with QUANTIZE_UNSUPPORTED naming the node.
 */
const OPSET13_COMPATIBLE: Readonly<Record<string, number>> = {
  Conv: 1, ConvTranspose: 1, Relu: 6, PRelu: 9, LeakyRelu: 6, Sigmoid: 6, Tanh: 6, HardSigmoid: 6, Add: 7, Sub: 7, Mul: 7, Div: 7,
  MaxPool: 8, AveragePool: 7, GlobalAveragePool: 1, GlobalMaxPool: 1, Concat: 4, Transpose: 1, Reshape: 5, Shape: 1,
  Gather: 1, Slice: 10, Resize: 11, Flatten: 9, Gemm: 9, MatMul: 9, BatchNormalization: 9, Clip: 11, Identity: 1,
  Constant: 9, Cast: 9, Pad: 11, Exp: 6, Floor: 6, Sqrt: 6, Pow: 7, Softmax: 13, Equal: 11, Where: 9, Expand: 8,
  Unsqueeze: 1, Squeeze: 1, Split: 2, ReduceMean: 1, ReduceSum: 13, Neg: 6, Abs: 6, Max: 8, Min: 8, Tile: 6,
  ConstantOfShape: 9, Range: 11, NonMaxSuppression: 11, TopK: 11, ArgMax: 12, Erf: 9, Sign: 9,
};

/** Ops whose `axes`/`split` attribute became an input in opset 13. */
const ATTR_TO_INPUT: Readonly<Record<string, string>> = { Unsqueeze: 'axes', Squeeze: 'axes', Split: 'split' };

/**
 * Raises the default-domain opset to 13 in place. Throws QUANTIZE_UNSUPPORTED naming the first node whose op the
 * quantiser does not know or whose form it cannot carry over (e.g. an opset-9 Slice or Upsample).
 */
export function upgradeToOpset13(m: ModelProto): void {
  const from = defaultOpset(m);
  if (from < 9) throw new FaceGateError('QUANTIZE_UNSUPPORTED', `model opset ${from} is older than 9; re-export it with opset >= 11`);
  const g = m.graph!;
  for (const node of g.node ?? []) {
    if (node.domain && node.domain !== 'ai.onnx') {
      throw new FaceGateError('QUANTIZE_UNSUPPORTED', `node ${nodeLabel(node)} is in domain "${node.domain}", which the quantiser does not know`, { details: { node: node.name, opType: node.opType } });
    }
    const op = node.opType ?? '';
    const min = OPSET13_COMPATIBLE[op];
    if (min === undefined) {
      throw new FaceGateError('QUANTIZE_UNSUPPORTED', `node ${nodeLabel(node)}: op "${op}" is not supported by the quantiser`, { details: { node: node.name, opType: op } });
    }
    if (from < min) {
      throw new FaceGateError('QUANTIZE_UNSUPPORTED', `node ${nodeLabel(node)}: op "${op}" at opset ${from} has an older form the quantiser cannot upgrade (needs opset >= ${min})`, { details: { node: node.name, opType: op } });
    }
    const attrName = ATTR_TO_INPUT[op];
    if (from < 13 && attrName) {
      const a = getAttr(node, attrName);
      if (a) {
        const values = BigInt64Array.from((a.ints ?? []).map((v) => BigInt(toNum(v))));
        const initName = `${node.name || node.output![0]}_${attrName}_opset13`;
        g.initializer!.push(makeTensor(initName, DT.INT64, [values.length], values));
        node.attribute = node.attribute!.filter((x) => x !== a);
        // Split's `split` is input 1; Squeeze/Unsqueeze's `axes` is input 1 too.
        node.input = [node.input![0]!, initName];
      }
    }
  }
  for (const o of m.opsetImport ?? []) if (!o.domain || o.domain === 'ai.onnx') o.version = 13;
  if (toNum(m.irVersion) < 7) m.irVersion = 7;
}

/** Element type of every tensor name: graph inputs, initializers and node outputs (propagated by simple op rules). */
export function inferElemTypes(g: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const i of g.input ?? []) types.set(i.name!, i.type?.tensorType?.elemType ?? DT.FLOAT);
  for (const t of g.initializer ?? []) types.set(t.name!, t.dataType ?? DT.FLOAT);
  for (const node of topoSort(g.node ?? [], g)) {
    const op = node.opType;
    let t: number;
    if (op === 'Shape' || op === 'NonZero' || op === 'ArgMax' || op === 'NonMaxSuppression') t = DT.INT64;
    else if (op === 'Cast') t = toNum(getAttr(node, 'to')?.i);
    else if (op === 'Equal' || op === 'Less' || op === 'Greater' || op === 'Not') t = DT.BOOL;
    else if (op === 'Constant') t = getAttr(node, 'value')?.t?.dataType ?? DT.FLOAT;
    else if (op === 'ConstantOfShape') t = getAttr(node, 'value')?.t?.dataType ?? DT.FLOAT;
    else if (op === 'Where') t = types.get(node.input![1]!) ?? DT.FLOAT;
    else t = types.get(node.input?.[0] ?? '') ?? DT.FLOAT;
    for (const o of node.output ?? []) types.set(o, t);
  }
  return types;
}

/**
 * Nodes in an order where every input is produced before it is read (ONNX requires it). Throws QUANTIZE_UNSUPPORTED
 * for a cycle or an input nobody produces.
 */
export function topoSort(nodes: readonly NodeProto[], g: GraphProto): NodeProto[] {
  const available = new Set<string>(['']);
  for (const i of g.input ?? []) available.add(i.name!);
  for (const t of g.initializer ?? []) available.add(t.name!);
  const producers = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producers.set(o, i)));
  const waiting = new Map<number, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    let count = 0;
    for (const inp of n.input ?? []) {
      if (available.has(inp)) continue;
      if (!producers.has(inp)) {
        throw new FaceGateError('QUANTIZE_UNSUPPORTED', `node ${nodeLabel(n)} reads "${inp}", which no node, input or initializer provides`, { details: { node: n.name, input: inp } });
      }
      count++;
      const list = consumers.get(inp) ?? [];
      list.push(i);
      consumers.set(inp, list);
    }
    waiting.set(i, count);
  });
  const ready: number[] = [];
  waiting.forEach((c, i) => c === 0 && ready.push(i));
  const out: NodeProto[] = [];
  while (ready.length > 0) {
    const i = ready.shift()!;
    out.push(nodes[i]!);
    for (const o of nodes[i]!.output ?? []) {
      for (const j of consumers.get(o) ?? []) {
        const left = waiting.get(j)! - 1;
        waiting.set(j, left);
        if (left === 0) ready.push(j);
      }
    }
  }
  if (out.length !== nodes.length) {
    const stuck = nodes.find((_, i) => waiting.get(i)! > 0)!;
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `graph has a cycle at node ${nodeLabel(stuck)}`, { details: { node: stuck.name } });
  }
  return out;
}

/** Consumers of each tensor name (node indices). */
export function consumerMap(nodes: readonly NodeProto[]): Map<string, NodeProto[]> {
  const map = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const i of n.input ?? []) if (i) map.set(i, [...(map.get(i) ?? []), n]);
  return map;
}

/** Producer of each tensor name. */
export function producerMap(nodes: readonly NodeProto[]): Map<string, NodeProto> {
  const map = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) map.set(o, n);
  return map;
}

/** Drops initializers no node reads, and the value_info of tensors that no longer exist. */
export function removeUnusedInitializers(g: GraphProto): void {
  const used = new Set<string>();
  for (const n of g.node ?? []) for (const i of n.input ?? []) used.add(i);
  for (const o of g.output ?? []) used.add(o.name!);
  const allInits = new Set((g.initializer ?? []).map((t) => t.name!));
  g.initializer = (g.initializer ?? []).filter((t) => used.has(t.name!));
  // Old IR versions list initializers among the graph inputs too; drop those entries along with the initializer.
  g.input = (g.input ?? []).filter((i) => !allInits.has(i.name!) || used.has(i.name!));
}
