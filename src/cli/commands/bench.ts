/**
 * `facegate bench --precision both`: FP32 vs INT8 latency (median, same run, interleaved) through the SDK's own
 * detector/recognizer, for the models that have a generated INT8 file in models/int8.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FaceGateError } from '../../core/errors.js';
import { packageRoot, resolveModelsDir } from '../../models/manifest.js';
import { cpuInt8Support, loadInt8Manifest } from '../../quantize/precision.js';
import { compareSpeed } from '../../quantize-models.js';
import { bool, numberFlag, parse, printJsonLine, str, type Command } from '../common.js';

const usage = `facegate bench --precision both [options]

Times each model's FP32 and INT8 files in the same run (calls interleaved; median of --iterations) through the SDK's
detector or recognizer, pre- and post-processing included, and prints the speed-up. INT8 files come from
\`npm run quantize\` (models/int8/manifest.json). INT8 pays only on CPUs with int8 dot-product instructions (x86
VNNI, ARM dot-product); the first line says whether this CPU has them.

options:
  --precision both      the only comparison so far (FP32 vs INT8)
  --model ID            one model (default: every model with an INT8 file)
  --image FILE          detector photo / recognizer face (default: samples from ../shared/data/faces)
  --threads LIST        onnxruntime threads per operator, comma-separated (default 1,2)
  --iterations N        timed calls per model (default 30)
  --models DIR          models directory (default FACEGATE_MODELS, then ../shared/models)
  --json                one JSON line per row`;

export const command: Command = {
  name: 'bench',
  summary: 'compare FP32 and INT8 model speed on this machine (--precision both)',
  usage,
  async run(argv) {
    const args = parse(argv, {
      precision: { type: 'string' },
      model: { type: 'string' },
      image: { type: 'string' },
      threads: { type: 'string' },
      iterations: { type: 'string' },
    });
    const precision = str(args, 'precision') ?? 'both';
    if (precision !== 'both') throw new FaceGateError('USAGE', `--precision must be "both" (FP32 vs INT8), got "${precision}"`);
    const threads = (str(args, 'threads') ?? '1,2').split(',').map((t) => numberFlag(t.trim(), 'threads', 1));
    const iterations = numberFlag(str(args, 'iterations'), 'iterations', 30);
    const modelsDir = resolveModelsDir(str(args, 'models'));
    const int8Dir = join(packageRoot(), 'models', 'int8');
    const wanted = str(args, 'model');
    const records = loadInt8Manifest(int8Dir).models.filter((r) => r.target === 'cpu' && (!wanted || r.id === wanted) && existsSync(join(int8Dir, r.file)));
    if (records.length === 0) {
      throw new FaceGateError('MODEL_NOT_FOUND', `no generated INT8 model${wanted ? ` for "${wanted}"` : ''} in ${int8Dir} (run \`npm run quantize\`)`);
    }
    const json = bool(args, 'json');
    const cpu = cpuInt8Support();
    if (!json) process.stdout.write(`cpu int8 dot-product instructions: ${cpu.supported} (${cpu.features.join(', ') || 'none'})\n`);
    const faces = join(packageRoot(), '..', 'shared', 'data', 'faces');
    for (const rec of records) {
      const isDetector = rec.id.startsWith('det') || rec.id.includes('yunet');
      let sample = str(args, 'image') ?? (isDetector ? join(faces, 'groups', 'dlib__2008_002079.jpg') : join(faces, 'identities', 'glint360k__Keanu_Reeves'));
      if (existsSync(sample) && statSync(sample).isDirectory()) sample = join(sample, readdirSync(sample).sort()[0]!);
      if (!existsSync(sample)) throw new FaceGateError('FILE_NOT_FOUND', `sample image not found: ${sample} (pass --image)`, { details: { path: sample } });
      for (const t of threads) {
        const r = await compareSpeed(rec.id, modelsDir, join(int8Dir, rec.file), sample, t, iterations);
        if (json) printJsonLine({ ...r, cpuInt8: cpu });
        else process.stdout.write(`${r.id.padEnd(28)} threads ${t}: fp32 ${r.fp32Ms.toFixed(2)} ms, int8 ${r.int8Ms.toFixed(2)} ms, speed-up ${r.speedup.toFixed(2)}x, ${(r.fp32Bytes / 1e6).toFixed(2)} -> ${(r.int8Bytes / 1e6).toFixed(2)} MB\n`);
      }
    }
    return 0;
  },
};
