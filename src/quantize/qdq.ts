/**
 * The QDQ rewrite: which tensors get quantised (onnxruntime's QDQ quantiser rules, qdq_quantizer.py) and the graph
 * surgery that inserts QuantizeLinear/DequantizeLinear pairs, per-channel int8 weights and int32 biases. Names follow
 * onnxruntime's exactly (`T_QuantizeLinear`, `W_quantized`, `B_quantized_scale`, ...), so tools that know ORT's QDQ
 * models read ours.
 */
import { FaceGateError } from '../core/errors.js';
import {
  DT,
  consumerMap,
  getAttr,
  inferElemTypes,
  intAttr,
  makeNode,
  makeTensor,
  nodeLabel,
  producerMap,
  removeUnusedInitializers,
  tensorDims,
  tensorFloats,
  toNum,
  topoSort,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-graph.js';

/**
 * `cpu`: asymmetric int8 activations, Relu folded, int8 weights behind one DequantizeLinear, int32 bias (what
 * onnxruntime's CPU EP fuses into QLinearConv). `trt`: symmetric activations (zero point 0), Q->DQ pairs on float
 * weights, float bias, one Q/DQ pair per consumer and no quantised outputs of weighted ops (TensorRT explicit
 * quantisation).
 */
export type QuantTarget = 'cpu' | 'trt';

/** Ops with a weight: input 0 activation, input 1 constant weight, optional input 2 bias. */
const WEIGHTED = new Set(['Conv', 'Gemm']);
/** Ops quantised on every float input and their output (onnxruntime's generic QDQOperatorBase). */
const GENERIC = new Set(['Add', 'Concat']);
/** Ops whose output shares the input's scale and zero point (QDQDirect8BitOp, QDQMaxPool, QDQResize). */
const DIRECT = new Set(['MaxPool', 'AveragePool', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Slice', 'Resize']);
/** Removable activations (QDQRemovableActivation). */
const ACTIVATION = new Set(['Relu', 'Clip']);

export interface QuantPlan {
  /** Tensors that get a Q/DQ pair, each mapped to the tensor whose range it uses (itself, or a DIRECT op's input). */
  tensors: Map<string, string>;
  /** Tensors whose ranges must be calibrated. */
  calibrate: string[];
}

/** Node names to keep in float by default: the last `depth` weighted layers on every path to a graph output, and everything after them. */
export function tailNodes(model: ModelProto, depth: number): string[] {
  const g = model.graph!;
  const producers = producerMap(g.node ?? []);
  const out = new Set<string>();
  const visit = (tensor: string, seen: number): void => {
    const node = producers.get(tensor);
    if (!node) return;
    const count = seen + (WEIGHTED.has(node.opType!) ? 1 : 0);
    if (count > depth) return;
    out.add(node.name!);
    if (WEIGHTED.has(node.opType!) && count === depth) return;
    for (const i of node.input ?? []) visit(i, count);
  };
  for (const o of g.output ?? []) visit(o.name!, 0);
  return [...out];
}

/**
 * Convs that read the graph input directly with at most 4 input channels (an RGB stem). Kept in float by default:
 * onnxruntime's int8 conv is slower than its float one at K = 3 x kh x kw (measured on det_500m with AVX512-VNNI:
 * 3.0 ms vs 1.4 ms at 640x640), and the first layer is the one most sensitive to 8-bit inputs.
 */
export function stemConvs(model: ModelProto): string[] {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t] as const));
  const inputs = new Set((g.input ?? []).map((i) => i.name!).filter((n) => !inits.has(n)));
  return (g.node ?? [])
    .filter((n) => n.opType === 'Conv' && inputs.has(n.input?.[0] ?? '') && (tensorDims(inits.get(n.input?.[1] ?? '') ?? {})[1] ?? 99) <= 4)
    .map((n) => n.name!);
}

/** Gives every node a unique name (names key the Q/DQ tensors and the exclude list). */
export function nameNodes(model: ModelProto): void {
  const seen = new Set<string>();
  (model.graph!.node ?? []).forEach((n, i) => {
    let name = n.name || `${n.opType}_${i}`;
    while (seen.has(name)) name = `${name}_${i}`;
    n.name = name;
    seen.add(name);
  });
}

/**
 * Decides which tensors get quantised, in topological order as onnxruntime does (a Relu is quantised only when its
 * input already is). Throws QUANTIZE_UNSUPPORTED naming a weighted node whose weight is not a constant initializer.
 */
export function planQuantization(model: ModelProto, target: QuantTarget, exclude: ReadonlySet<string>): QuantPlan {
  const g = model.graph!;
  const types = inferElemTypes(g);
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t] as const));
  const isActivation = (name: string | undefined): name is string => !!name && !inits.has(name) && types.get(name) === DT.FLOAT;
  const tensors = new Map<string, string>();
  const request = (name: string): void => {
    if (!tensors.has(name)) tensors.set(name, name);
  };
  for (const node of topoSort(g.node ?? [], g)) {
    const op = node.opType!;
    if (exclude.has(node.name!)) continue;
    const inputs = node.input ?? [];
    const output = node.output?.[0];
    if (WEIGHTED.has(op)) {
      const w = inits.get(inputs[1] ?? '');
      if (!w || w.dataType !== DT.FLOAT) {
        throw new FaceGateError('QUANTIZE_UNSUPPORTED', `node ${nodeLabel(node)}: weight "${inputs[1]}" is not a constant float initializer (dynamic weights are not supported); exclude the node`, { details: { node: node.name } });
      }
      const dims = tensorDims(w);
      if ((op === 'Conv' && dims.length < 3) || (op === 'Gemm' && dims.length !== 2)) {
        throw new FaceGateError('QUANTIZE_UNSUPPORTED', `node ${nodeLabel(node)}: weight "${w.name}" has shape [${dims.join(', ')}], which the quantiser cannot handle`, { details: { node: node.name } });
      }
      if (isActivation(inputs[0])) request(inputs[0]);
      if (target === 'cpu' && isActivation(output)) request(output);
    } else if (GENERIC.has(op)) {
      if (!isActivation(output)) continue;
      for (const i of inputs) if (isActivation(i)) request(i);
      request(output);
    } else if (ACTIVATION.has(op)) {
      if (!isActivation(inputs[0]) || !tensors.has(inputs[0]) || !isActivation(output)) continue;
      request(output);
    } else if (DIRECT.has(op)) {
      if (!isActivation(inputs[0]) || !tensors.has(inputs[0]) || !isActivation(output)) continue;
      if (!tensors.has(output)) tensors.set(output, tensors.get(inputs[0])!);
    }
  }
  const calibrate = [...new Set(tensors.values())];
  return { tensors, calibrate };
}

interface QParams {
  scale: number;
  zeroPoint: number;
}

const FLOAT32_TINY = 1.1754943508222875e-38;

/** numpy round: half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** Element type of quantised activations. */
export type ActivationType = 'int8' | 'uint8';

/**
 * onnxruntime compute_scale_zp for 8-bit activations: asymmetric int8 [-128, 127] or uint8 [0, 255], or symmetric
 * int8 [-127, 127]; zero is always exactly representable.
 */
export function activationParams(rmin: number, rmax: number, symmetric: boolean, type: ActivationType = 'int8'): QParams {
  let lo = Math.min(rmin, 0);
  let hi = Math.max(rmax, 0);
  const qmin = symmetric ? -127 : type === 'uint8' ? 0 : -128;
  const qmax = type === 'uint8' && !symmetric ? 255 : 127;
  if (symmetric) {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -a;
    hi = a;
  }
  const scale = Math.fround((hi - lo) / (qmax - qmin));
  if (!(scale >= FLOAT32_TINY)) return { scale: 1, zeroPoint: 0 };
  if (symmetric) return { scale, zeroPoint: 0 };
  return { scale, zeroPoint: Math.max(qmin, Math.min(qmax, roundHalfEven(qmin - lo / scale))) };
}

/** Per-channel symmetric int8 weights along `axis` (onnxruntime quantize_data per channel, range [-127, 127]). */
export function quantizeWeightPerChannel(w: Float32Array, dims: readonly number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const absMax = new Float64Array(channels);
  const idx = (o: number, c: number, i: number): number => (o * channels + c) * inner + i;
  for (let o = 0; o < outer; o++) for (let c = 0; c < channels; c++) for (let i = 0; i < inner; i++) absMax[c] = Math.max(absMax[c]!, Math.abs(w[idx(o, c, i)]!));
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = Math.fround((2 * absMax[c]!) / 254);
    scales[c] = s >= FLOAT32_TINY ? s : 1;
  }
  const q = new Int8Array(w.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      for (let i = 0; i < inner; i++) {
        const k = idx(o, c, i);
        q[k] = Math.max(-128, Math.min(127, roundHalfEven(Math.fround(w[k]! / s))));
      }
    }
  }
  return { q, scales };
}

export interface RewriteResult {
  /** Number of weighted nodes now running on int8 weights. */
  quantizedNodes: number;
  /** Activation tensors with a Q/DQ pair. */
  quantizedTensors: number;
  /** Relu/Clip nodes folded into their producer (cpu target). */
  foldedActivations: number;
}

/**
 * Rewrites `model` in place into a QDQ model. `ranges` holds the calibrated [min, max] of every tensor in
 * `plan.calibrate` (measured on the unmodified graph: folding a Relu before calibration destroys accuracy).
 */
export function rewriteQdq(
  model: ModelProto,
  plan: QuantPlan,
  ranges: ReadonlyMap<string, readonly [number, number]>,
  target: QuantTarget,
  exclude: ReadonlySet<string>,
  activationType: ActivationType = 'int8',
): RewriteResult {
  const g = model.graph!;
  const symmetric = target === 'trt';
  // TensorRT takes symmetric int8 only.
  const actType: ActivationType = symmetric ? 'int8' : activationType;
  const tensors = new Map(plan.tensors);
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t] as const));
  let nodes = [...(g.node ?? [])];
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name!));
  let folded = 0;

  // 1. cpu: fold Relu/Clip into the producer that writes a quantised output; the [0, max] range with zp = -128 is the Relu.
  if (target === 'cpu') {
    const consumers = consumerMap(nodes);
    const producers = producerMap(nodes);
    const removed = new Set<NodeProto>();
    for (const node of nodes) {
      if (!ACTIVATION.has(node.opType!) || exclude.has(node.name!)) continue;
      const input = node.input![0]!;
      const output = node.output![0]!;
      const producer = producers.get(input);
      if (!producer || exclude.has(producer.name!) || !(WEIGHTED.has(producer.opType!) || GENERIC.has(producer.opType!))) continue;
      if (!tensors.has(input) || !tensors.has(output) || graphOutputs.has(input) || (consumers.get(input) ?? []).length !== 1) continue;
      producer.output![0] = output;
      tensors.delete(input);
      removed.add(node);
      folded++;
    }
    nodes = nodes.filter((n) => !removed.has(n));
  }

  const params = new Map<string, QParams>();
  for (const [tensor, source] of tensors) {
    const r = ranges.get(source);
    if (!r) throw new FaceGateError('INTERNAL', `no calibrated range for tensor "${source}"`);
    params.set(tensor, activationParams(r[0], r[1], symmetric, actType));
  }

  const newInits: TensorProto[] = [];
  const newNodes: NodeProto[] = [];
  const scalar = (name: string, scale: number, zp: number): [string, string] => {
    newInits.push(makeTensor(`${name}_scale`, DT.FLOAT, [], Float32Array.of(scale)));
    newInits.push(actType === 'uint8' ? makeTensor(`${name}_zero_point`, DT.UINT8, [], Uint8Array.of(zp)) : makeTensor(`${name}_zero_point`, DT.INT8, [], Int8Array.of(zp)));
    return [`${name}_scale`, `${name}_zero_point`];
  };

  // 2. Activations.
  const consumers = consumerMap(nodes);
  const producers = producerMap(nodes);
  for (const [t, p] of params) {
    const [s, z] = scalar(t, p.scale, p.zeroPoint);
    if (graphOutputs.has(t)) {
      const producer = producers.get(t);
      const inner = `${t}_QuantizeLinear_Input`;
      // Consumers keep reading `t`, which the DequantizeLinear now writes.
      if (producer) producer.output = producer.output!.map((o) => (o === t ? inner : o));
      newNodes.push(makeNode('QuantizeLinear', `${t}_QuantizeLinear`, [inner, s, z], [`${t}_QuantizeLinear_Output`]));
      newNodes.push(makeNode('DequantizeLinear', `${t}_DequantizeLinear`, [`${t}_QuantizeLinear_Output`, s, z], [t]));
      continue;
    }
    const users = consumers.get(t) ?? [];
    // One DequantizeLinear per consumer, each with its own copy of the scale and zero point. onnxruntime fuses
    // DQ->Conv->Q into QLinearConv only when the DQ is not shared, and its common-subexpression pass merges identical
    // DQ nodes back together (measured: 17 of 51 convs of det_500m stayed float). cpu keeps one Quantize per tensor
    // (a Conv whose output feeds two Q nodes is not fused either); trt gets a whole pair per consumer, as TensorRT
    // requires ("a QDQ pair can't be shared between nodes").
    const sharedQ = `${t}_QuantizeLinear_Output`;
    if (target === 'cpu') newNodes.push(makeNode('QuantizeLinear', `${t}_QuantizeLinear`, [t, s, z], [sharedQ]));
    users.forEach((user, k) => {
      const suffix = users.length > 1 ? `_${k + 1}` : '';
      const [sk, zk] = k === 0 ? [s, z] : scalar(`${t}${suffix}`, p.scale, p.zeroPoint);
      let qOut = sharedQ;
      if (target === 'trt') {
        qOut = `${t}_QuantizeLinear_Output${suffix}`;
        newNodes.push(makeNode('QuantizeLinear', `${t}_QuantizeLinear${suffix}`, [t, sk, zk], [qOut]));
      }
      const dqOut = `${t}_DequantizeLinear_Output${suffix}`;
      newNodes.push(makeNode('DequantizeLinear', `${t}_DequantizeLinear${suffix}`, [qOut, sk, zk], [dqOut]));
      user.input = user.input!.map((i) => (i === t ? dqOut : i));
    });
  }

  // 3. Weights and biases of weighted nodes.
  let quantizedNodes = 0;
  const doneWeights = new Map<string, { out: string; scales: Float32Array }>();
  for (const node of nodes) {
    if (!WEIGHTED.has(node.opType!) || exclude.has(node.name!)) continue;
    const inputs = node.input!;
    const wName = inputs[1]!;
    const w = inits.get(wName);
    if (!w) continue;
    const dims = tensorDims(w);
    const transB = node.opType === 'Gemm' ? toNum(getAttr(node, 'transB')?.i) : 1;
    const axis = node.opType === 'Gemm' && !transB ? 1 : 0;
    let done = doneWeights.get(wName);
    if (!done) {
      const { q, scales } = quantizeWeightPerChannel(tensorFloats(w), dims, axis);
      const zeros = new Int8Array(scales.length);
      newInits.push(makeTensor(`${wName}_scale`, DT.FLOAT, [scales.length], scales));
      newInits.push(makeTensor(`${wName}_zero_point`, DT.INT8, [scales.length], zeros));
      let source = wName;
      if (target === 'trt') {
        newNodes.push(makeNode('QuantizeLinear', `${wName}_QuantizeLinear`, [wName, `${wName}_scale`, `${wName}_zero_point`], [`${wName}_QuantizeLinear_Output`], [intAttr('axis', axis)]));
        source = `${wName}_QuantizeLinear_Output`;
      } else {
        newInits.push(makeTensor(`${wName}_quantized`, DT.INT8, dims, q));
        source = `${wName}_quantized`;
      }
      newNodes.push(makeNode('DequantizeLinear', `${wName}_DequantizeLinear`, [source, `${wName}_scale`, `${wName}_zero_point`], [`${wName}_DequantizeLinear_Output`], [intAttr('axis', axis)]));
      done = { out: `${wName}_DequantizeLinear_Output`, scales };
      doneWeights.set(wName, done);
    }
    inputs[1] = done.out;
    quantizedNodes++;
    // cpu: int32 bias at scale input_scale * weight_scale[c]; trt keeps float bias (TensorRT 8 rejects int32 bias DQ).
    const bName = inputs[2];
    const b = bName ? inits.get(bName) : undefined;
    const inScale = params.get(originalInput(inputs[0]!, params))?.scale;
    if (target === 'cpu' && b && inScale !== undefined) {
      const bias = tensorFloats(b);
      if (bias.length !== done.scales.length) {
        throw new FaceGateError('QUANTIZE_UNSUPPORTED', `node ${nodeLabel(node)}: bias "${bName}" has ${bias.length} values for ${done.scales.length} output channels`, { details: { node: node.name } });
      }
      const base = doneWeights.has(`bias:${bName}`) ? `${bName}_${node.name}` : bName!;
      doneWeights.set(`bias:${bName}`, done);
      const bScale = new Float32Array(bias.length);
      const bq = new Int32Array(bias.length);
      for (let c = 0; c < bias.length; c++) {
        bScale[c] = Math.fround(inScale * done.scales[c]!);
        bq[c] = Math.max(-2147483648, Math.min(2147483647, roundHalfEven(bias[c]! / bScale[c]!)));
      }
      newInits.push(makeTensor(`${base}_quantized`, DT.INT32, [bias.length], bq));
      newInits.push(makeTensor(`${base}_quantized_scale`, DT.FLOAT, [bias.length], bScale));
      newInits.push(makeTensor(`${base}_quantized_zero_point`, DT.INT32, [bias.length], new Int32Array(bias.length)));
      newNodes.push(makeNode('DequantizeLinear', `${base}_DequantizeLinear`, [`${base}_quantized`, `${base}_quantized_scale`, `${base}_quantized_zero_point`], [`${base}_DequantizeLinear_Output`], [intAttr('axis', 0)]));
      inputs[2] = `${base}_DequantizeLinear_Output`;
    }
  }

  g.initializer = [...(g.initializer ?? []), ...newInits];
  g.node = topoSort([...nodes, ...newNodes], g);
  g.valueInfo = [];
  removeUnusedInitializers(g);
  model.producerName = 'onnx.quantize';
  model.producerVersion = '0.1.0';
  return { quantizedNodes, quantizedTensors: params.size, foldedActivations: folded };
}

/** The activation tensor a node input came from, before it was rewired to a DequantizeLinear output. */
function originalInput(input: string, params: ReadonlyMap<string, QParams>): string {
  const m = /^(.*)_DequantizeLinear_Output(_\d+)?$/.exec(input);
  return m && params.has(m[1]!) ? m[1]! : input;
}
