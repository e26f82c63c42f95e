/**
 * PRelu rewrite for the cpu target. onnxruntime has no int8 PRelu, and its float PRelu dominates MobileFaceNet's
 * time (measured with onnxruntime profiling, 1 thread: PRelu 5.2 of 8.3 ms in FP32, 6.8 of 9.2 ms in the INT8 QDQ
 * model). For a Conv P followed only by PRelu with slopes s <= 1 per channel:
 *   PRelu(P(x)) = s * P(x) + (1 - s) * Relu(P(x)) = P_s(x) + Relu(P_(1-s)(x))
 * where P_a is P with output channel c's weights and bias scaled by a[c] (a positive scale commutes with Relu). Both
 * branches are convs (int8, Relu folded) and the sum is an Add (QLinearAdd): exact in float, all int8 after.
 */
import { consumerMap, makeNode, makeTensor, producerMap, tensorDims, tensorFloats, DT, type ModelProto, type NodeProto } from './onnx-graph.js';

/** Rewrites eligible Conv->PRelu pairs in place (skipping nodes in `keep`); returns how many were rewritten. */
export function decomposePRelu(model: ModelProto, keep: ReadonlySet<string>): number {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t] as const));
  const nodes = g.node ?? [];
  const consumers = consumerMap(nodes);
  const producers = producerMap(nodes);
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name!));
  const replaced = new Map<NodeProto, NodeProto[]>();
  let count = 0;
  for (const prelu of nodes) {
    if (prelu.opType !== 'PRelu' || keep.has(prelu.name!)) continue;
    const x = prelu.input![0]!;
    const slopeT = inits.get(prelu.input![1]!);
    const conv = producers.get(x);
    if (!slopeT || slopeT.dataType !== DT.FLOAT || !conv || conv.opType !== 'Conv' || keep.has(conv.name!)) continue;
    if ((consumers.get(x) ?? []).length !== 1 || graphOutputs.has(x)) continue;
    const w = inits.get(conv.input![1]!);
    if (!w || w.dataType !== DT.FLOAT) continue;
    const dims = tensorDims(w);
    const channels = dims[0]!;
    const slopes = tensorFloats(slopeT);
    if (slopes.length !== channels && slopes.length !== 1) continue;
    const s = (c: number): number => (slopes.length === 1 ? slopes[0]! : slopes[c]!);
    let ok = true;
    for (let c = 0; c < channels; c++) if (!(s(c) <= 1)) ok = false;
    if (!ok) continue;
    const weights = tensorFloats(w);
    const biasT = conv.input![2] ? inits.get(conv.input![2]) : undefined;
    if (conv.input![2] && !biasT) continue;
    const bias = biasT ? tensorFloats(biasT) : new Float32Array(channels);
    const per = weights.length / channels;
    const wLin = new Float32Array(weights.length);
    const wPos = new Float32Array(weights.length);
    const bLin = new Float32Array(channels);
    const bPos = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const a = s(c);
      for (let k = 0; k < per; k++) {
        wLin[c * per + k] = a * weights[c * per + k]!;
        wPos[c * per + k] = (1 - a) * weights[c * per + k]!;
      }
      bLin[c] = a * bias[c]!;
      bPos[c] = (1 - a) * bias[c]!;
    }
    const base = conv.name!;
    const y = prelu.output![0]!;
    g.initializer!.push(
      makeTensor(`${base}_prelu_lin_W`, DT.FLOAT, dims, wLin),
      makeTensor(`${base}_prelu_lin_B`, DT.FLOAT, [channels], bLin),
      makeTensor(`${base}_prelu_pos_W`, DT.FLOAT, dims, wPos),
      makeTensor(`${base}_prelu_pos_B`, DT.FLOAT, [channels], bPos),
    );
    const input = conv.input![0]!;
    const lin = makeNode('Conv', `${base}_prelu_lin`, [input, `${base}_prelu_lin_W`, `${base}_prelu_lin_B`], [`${y}_prelu_lin`], conv.attribute ?? []);
    const pos = makeNode('Conv', `${base}_prelu_pos`, [input, `${base}_prelu_pos_W`, `${base}_prelu_pos_B`], [`${y}_prelu_pos_pre`], conv.attribute ?? []);
    const relu = makeNode('Relu', `${prelu.name}_relu`, [`${y}_prelu_pos_pre`], [`${y}_prelu_pos`]);
    const add = makeNode('Add', prelu.name!, [`${y}_prelu_lin`, `${y}_prelu_pos`], [y]);
    replaced.set(conv, [lin, pos, relu]);
    replaced.set(prelu, [add]);
    count++;
  }
  g.node = nodes.flatMap((n) => replaced.get(n) ?? [n]);
  return count;
}
