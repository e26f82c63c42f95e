/** Several sinks behind one: the pipeline writes once, every sink gets the event (MQTT and console, say). */
import type { DeviceStatus, EventSink, FaceEvent, SinkStats } from './types.js';

/**
 * One EventSink that forwards to all of `sinks`. A write resolves once every sink has taken the event; since sinks
 * keep and retry what they cannot deliver, one slow receiver never holds back another. Counters are summed.
 */
export function createFanoutSink(sinks: readonly EventSink[], options: { name?: string } = {}): EventSink {
  const all = [...sinks];
  return {
    name: options.name ?? all.map((s) => s.name).join('+'),
    async write(event: FaceEvent) {
      const results = await Promise.allSettled(all.map((s) => s.write(event)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    async status(status: DeviceStatus) {
      await Promise.allSettled(all.map((s) => s.status?.(status)));
    },
    stats(): SinkStats {
      const total: SinkStats = { published: 0, pending: 0, dropped: 0, redelivered: 0, failures: 0 };
      for (const s of all) {
        const x = s.stats();
        for (const k of Object.keys(total) as (keyof SinkStats)[]) total[k] += x[k];
      }
      return total;
    },
    async flush(timeoutMs?: number) {
      const r = await Promise.all(all.map((s) => s.flush(timeoutMs)));
      return r.every(Boolean);
    },
    async close() {
      await Promise.allSettled(all.map((s) => s.close()));
    },
  };
}
