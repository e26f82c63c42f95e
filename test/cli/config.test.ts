import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyFlags, CONFIG_FIELDS, checkConfig, loadConfigFile, requireFields } from '../../src/cli/config.js';

const dir = mkdtempSync(join(tmpdir(), 'facegate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run configuration', () => {
  it('reads the same configuration from YAML and JSON', () => {
    const obj = { deviceId: 'door-1', source: { input: '/dev/video0', fps: 5, inputArgs: ['-input_format', 'mjpeg'] }, gallery: { path: '/g' }, events: { console: true } };
    writeFileSync(join(dir, 'a.json'), JSON.stringify(obj));
    writeFileSync(
      join(dir, 'a.yaml'),
      'deviceId: door-1\nsource:\n  input: /dev/video0\n  fps: 5\n  inputArgs: [-input_format, mjpeg]\ngallery:\n  path: /g\nevents:\n  console: true\n',
    );
    expect(loadConfigFile(join(dir, 'a.yaml'))).toEqual(loadConfigFile(join(dir, 'a.json')));
    expect(loadConfigFile(join(dir, 'a.yaml'))).toEqual(obj);
  });

  it('flags override the file and are converted from text', () => {
    const cfg = applyFlags(checkConfig({ source: { input: 'a.mp4', fps: 5 } }, 'f'), {
      'source.fps': '12.5',
      'source.loop': true,
      'events.faceCrop': 'false',
      'source.inputArgs': '["-video_size","640x480"]',
    });
    expect(cfg).toEqual({ source: { input: 'a.mp4', fps: 12.5, loop: true, inputArgs: ['-video_size', '640x480'] }, events: { faceCrop: false } });
  });

  it('names the field, the file and the problem', () => {
    expect(() => checkConfig({ source: { fps: 0 } }, 'k.yaml')).toThrow('k.yaml: source.fps must be >= 0.1, got 0');
    expect(() => checkConfig({ source: 'cam' }, 'k.yaml')).toThrow('k.yaml: source must be a section');
    expect(() => checkConfig({ engine: { device: 'tpu' } }, 'k.yaml')).toThrow('engine.device must be one of cpu, cuda, tensorrt, auto, got "tpu"');
    expect(() => checkConfig({ decision: { minSamples: 1.5 } }, 'k.yaml')).toThrow('decision.minSamples must be an integer');
    expect(() => checkConfig({ mqtt: { urll: 'x' } }, 'k.yaml')).toThrow('mqtt.urll is not a known option (did you mean mqtt.url?)');
    expect(() => checkConfig([1], 'k.yaml')).toThrow('must be an object');
    expect(() => requireFields({}, ['source.input'])).toThrow('source.input is required');
    let thrown: unknown;
    try {
      checkConfig({ tracker: { minIou: 2 } }, 'k.yaml');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toMatchObject({ code: 'CONFIG_INVALID', details: { field: 'tracker.minIou', origin: 'k.yaml' } });
  });

  it('documents every field', () => {
    for (const f of CONFIG_FIELDS) expect(f.doc.length, f.path).toBeGreaterThan(5);
    expect(new Set(CONFIG_FIELDS.map((f) => f.path)).size).toBe(CONFIG_FIELDS.length);
  });
});
