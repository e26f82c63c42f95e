#!/usr/bin/env node
/**
 * Patches onnxruntime's js/node/src/session_options_helper.cc so the Node binding forwards every provider option of
 * a `tensorrt` or `cuda` execution-provider entry (trt_int8_enable, trt_engine_cache_path, gpu_mem_limit, ...) to
 * onnxruntime through UpdateTensorRTProviderOptions / UpdateCUDAProviderOptions. The stock binding reads only
 * `deviceId`, which leaves TensorRT at FP32 with no engine cache whatever the caller asks for.
 *
 * It inserts code at three anchors that are the same in onnxruntime 1.16 through 1.30, so one script serves every
 * JetPack line; it refuses (exit 1) when an anchor is missing and does nothing when the file is already patched.
 * The inserted error message names both Update* functions: facegate looks for those strings in the built binary to
 * know that options are forwarded (src/runtime/providers.ts FORWARDING_MARKERS).
 *
 * usage: node patch-onnxruntime-node.mjs <onnxruntime>/js/node/src/session_options_helper.cc
 */
import { readFileSync, writeFileSync } from 'node:fs';

const MARK = '// facegate: forward provider options';

/** Returns the patched source; throws naming the anchor that is missing. */
export function patchSessionOptionsHelper(src) {
  if (src.includes(MARK)) return src;
  const steps = [
    {
      name: 'declaration of deviceId',
      anchor: /(\n([ \t]*)int deviceId = 0;\n)/,
      insert: (m, indent) =>
        `${m}${indent}${MARK}: keys and values of a tensorrt/cuda entry, applied with Update*ProviderOptions.\n` +
        `${indent}std::vector<std::string> fgKeys;\n${indent}std::vector<std::string> fgValues;\n`,
    },
    {
      name: 'read of the entry name',
      anchor: /(\n([ \t]*)name = obj\.Get\("name"\)\.As<Napi::String>\(\)\.Utf8Value\(\);\n)/,
      insert: (m, i) =>
        `${m}${i}if (name == "tensorrt" || name == "cuda") {\n` +
        `${i}  Napi::Array fgNames = obj.GetPropertyNames();\n` +
        `${i}  for (uint32_t k = 0; k < fgNames.Length(); k++) {\n` +
        `${i}    std::string key = fgNames.Get(k).As<Napi::String>().Utf8Value();\n` +
        `${i}    if (key == "name" || key == "deviceId") continue;\n` +
        `${i}    Napi::Value value = obj.Get(key);\n` +
        `${i}    ORT_NAPI_THROW_TYPEERROR_IF(!value.IsString(), epList.Env(), "Invalid argument: executionProviders[", i, "].", key,\n` +
        `${i}                                " must be a string (forwarded by UpdateTensorRTProviderOptions / UpdateCUDAProviderOptions).");\n` +
        `${i}    fgKeys.push_back(key);\n` +
        `${i}    fgValues.push_back(value.As<Napi::String>().Utf8Value());\n` +
        `${i}  }\n${i}}\n`,
    },
    { name: 'TensorRT append', anchor: /(\n([ \t]*)sessionOptions\.AppendExecutionProvider_TensorRT_V2\(\*options\);\n)/, update: 'UpdateTensorRTProviderOptions' },
    { name: 'CUDA append', anchor: /(\n([ \t]*)sessionOptions\.AppendExecutionProvider_CUDA_V2\(\*options\);\n)/, update: 'UpdateCUDAProviderOptions' },
  ];
  let out = src;
  for (const step of steps) {
    const m = step.anchor.exec(out);
    if (!m) throw new Error(`anchor not found: ${step.name} (is this onnxruntime's js/node/src/session_options_helper.cc?)`);
    const [whole, , indent] = m;
    let replacement;
    if (step.update) {
      // Update*ProviderOptions resets fields it is not given, so the device id travels as a key too.
      replacement =
        `\n${indent}if (!fgKeys.empty()) {\n` +
        `${indent}  fgKeys.push_back("device_id");\n` +
        `${indent}  fgValues.push_back(std::to_string(deviceId));\n` +
        `${indent}  std::vector<const char*> fgK, fgV;\n` +
        `${indent}  for (size_t n = 0; n < fgKeys.size(); n++) {\n` +
        `${indent}    fgK.push_back(fgKeys[n].c_str());\n` +
        `${indent}    fgV.push_back(fgValues[n].c_str());\n` +
        `${indent}  }\n` +
        `${indent}  Ort::ThrowOnError(Ort::GetApi().${step.update}(options, fgK.data(), fgV.data(), fgK.size()));\n` +
        `${indent}}` +
        whole;
    } else {
      replacement = step.insert(whole, indent);
    }
    out = out.slice(0, m.index) + replacement + out.slice(m.index + whole.length);
  }
  return out;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node patch-onnxruntime-node.mjs <onnxruntime>/js/node/src/session_options_helper.cc\n');
    process.exit(2);
  }
  try {
    const src = readFileSync(file, 'utf8');
    const out = patchSessionOptionsHelper(src);
    if (out === src) process.stdout.write(`${file}: already patched\n`);
    else {
      writeFileSync(file, out);
      process.stdout.write(`${file}: patched (tensorrt and cuda entries forward their options)\n`);
    }
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  }
}
