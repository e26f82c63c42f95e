/** `facegate demo`: the README's main job, end to end through the built CLI (broker, gallery, video, MQTT). */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli.js';
import { MODELS_DIR, facePath, have } from '../helpers/shared.js';
import { haveFfmpeg } from '../helpers/ffmpeg.js';

const FFMPEG = haveFfmpeg();

const CLIP = facePath('video/face_recognition__short_hamilton_clip.mp4');
const LIN = facePath('identities/face_recognition__lin_manuel_miranda');

describe.skipIf(!have(CLIP, LIN, MODELS_DIR) || !FFMPEG)('facegate demo', () => {
  it('prints his identified event as the MQTT subscriber receives it, then a summary, and cleans up', async () => {
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('facegate-demo-'));
    const r = await runCli(['demo', '--json', '--threads', '1']);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const lines = jsonLines(r.stdout);
    const events = lines.filter((l) => l.kind === 'event') as { topic: string; event: { type: string; identity: { id: string } | null; similarity: number; eventId: string } }[];
    const summary = lines.find((l) => l.kind === 'summary') as {
      frames: number;
      drops: number;
      tracks: number;
      events: { identified: number; unknown: number };
      mqtt: { published: number; received: number; pending: number; statusMessages: number };
    };
    console.log(`demo: ${events.length} event(s) ${JSON.stringify(events.map((e) => [e.event.type, e.event.identity?.id, e.event.similarity]))}; summary ${JSON.stringify({ ...summary, latency: undefined })}`);
    const identified = events.filter((e) => e.event.type === 'identified');
    expect(identified.map((e) => e.event.identity?.id)).toEqual(['lin_manuel_miranda']);
    expect(identified[0]!.topic).toBe('facegate/demo/events/identified');
    expect(summary.frames).toBeGreaterThanOrEqual(99);
    expect(summary.tracks).toBeGreaterThanOrEqual(1);
    // every event the pipeline made went through the broker to the subscriber
    expect(summary.mqtt.received).toBe(summary.events.identified + summary.events.unknown);
    expect(summary.mqtt.pending).toBe(0);
    expect(summary.mqtt.statusMessages).toBeGreaterThanOrEqual(1);
    const after = readdirSync(tmpdir()).filter((n) => n.startsWith('facegate-demo-'));
    expect(after.filter((n) => !before.includes(n))).toEqual([]);
  });

  it('names the missing input instead of crashing', async () => {
    const r = await runCli(['demo', '--enrol', '/nonexistent/person']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[FILE_NOT_FOUND\].*\/nonexistent\/person/);
  });
});
