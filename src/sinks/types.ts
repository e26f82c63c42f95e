/**
 * The event-sink contract: the pipeline hands each decision (`FaceEvent`) to one or more sinks (MQTT, console,
 * webhook) through the same three calls. Sinks never throw for delivery failures: they keep the event, retry with
 * backoff, and report `SINK_FAILED` through `onStatus` and their counters.
 */
import type { Box } from '../core/types.js';

/** The payload schema id of a face event; bumped only on incompatible changes. */
export const EVENT_SCHEMA = 'facegate.event/v1';
/** The payload schema id of a device status message. */
export const STATUS_SCHEMA = 'facegate.status/v1';

/** The kind of decision: a known person, or a track that ended without enough evidence for anyone. */
export type FaceEventType = 'identified' | 'unknown';

/** The person an `identified` event names. */
export interface EventIdentity {
  /** The enrolled identity id (gallery key). */
  id: string;
  /** The display name given at enrolment. */
  name: string;
}

/**
 * One decision about one tracked person: the JSON published on `events/identified` or `events/unknown`
 * (schema/event.v1.schema.json). Consumers de-duplicate by `eventId` (QoS 1 may deliver an event twice).
 */
export interface FaceEvent {
  schema: typeof EVENT_SCHEMA;
  type: FaceEventType;
  /** A random UUID (v4), unique per decision; the de-duplication key. */
  eventId: string;
  /** When the decision was made, ISO 8601 UTC with milliseconds. */
  time: string;
  /** The device that made it (also in the topic). */
  deviceId: string;
  /** The tracker's id of the person within this run (restarts at 1 when the process restarts). */
  trackId: number;
  /** The identified person; null for `unknown`. */
  identity: EventIdentity | null;
  /** Cosine similarity of the track's fused template to the best gallery identity; null when the gallery is empty. */
  similarity: number | null;
  /** Similarity of the best identity minus that of the runner-up; null with fewer than two identities. */
  margin: number | null;
  /** Quality score in [0, 1] of the best face of the track. */
  quality: number;
  /** Box of the best face in source-frame pixels. */
  box: Box;
  /** Optional JPEG of the best face, base64; absent unless the pipeline enables face crops. */
  faceJpegBase64?: string;
}

/** The retained message on the `status` topic: `online` when connected, `offline` as the MQTT last will. */
export interface DeviceStatus {
  schema: typeof STATUS_SCHEMA;
  state: 'online' | 'offline';
  deviceId: string;
  /** ISO 8601 UTC time the message was made. */
  time: string;
  /** facegate's version (package.json). */
  version?: string;
  /** Model ids in use, by role, e.g. `{detector: 'scrfd_10g_bnkps', recognizer: 'w600k_r50'}`. */
  models?: Record<string, string>;
  /** Extra facts the pipeline reports (source state, counters). */
  details?: Record<string, unknown>;
}

/** The connection state a sink reports through `onStatus`. */
export type SinkState = 'connecting' | 'connected' | 'retrying' | 'closed';

/** A status change of a sink. `error.code` is `SINK_FAILED` when delivery failed and will be retried. */
export interface SinkStatus {
  /** The sink's name. */
  sink: string;
  state: SinkState;
  /** Consecutive failed attempts so far (0 while healthy). */
  attempt: number;
  /** With `retrying`: the wait before the next attempt, in milliseconds. */
  retryInMs?: number;
  /** With `retrying`: what went wrong. */
  error?: { code: 'SINK_FAILED'; message: string };
}

/** Counters of a sink, cumulative since it was created. */
export interface SinkStats {
  /** Events delivered (acknowledged by the broker / a 2xx answer / written). */
  published: number;
  /** Events accepted but not yet delivered (outbox or retry queue). */
  pending: number;
  /** Events discarded because the outbox was full (oldest first). */
  dropped: number;
  /** Deliveries that were attempts after the first (replays after an outage, a restart, or a failed request). */
  redelivered: number;
  /** Failed delivery attempts (each one reported as SINK_FAILED). */
  failures: number;
}

/**
 * Where events go: `{name, write(event), close()}`. `write` resolves once the sink has taken responsibility for the
 * event (MQTT: stored in the durable outbox; webhook: queued; console: written), not when it is delivered, so a
 * slow broker never stalls the camera loop. It rejects only for misuse (a closed sink, an invalid event).
 */
export interface EventSink {
  readonly name: string;
  write(event: FaceEvent): Promise<void>;
  /** Publishes a device status (MQTT: retained on `status`). Optional: sinks without a status channel omit it. */
  status?(status: DeviceStatus): Promise<void>;
  /** Counters, readable at any time. */
  stats(): SinkStats;
  /** Waits until nothing is pending or `timeoutMs` passes; resolves true when everything was delivered. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stops retrying and releases connections and files; pending events stay in a durable outbox. Idempotent. */
  close(): Promise<void>;
}

/** Options every sink accepts. */
export interface CommonSinkOptions {
  /** A name for logs and status. Default: the sink kind (`mqtt`, `console`, `webhook`). */
  name?: string;
  /** Called on every state change (connecting, connected, retrying with SINK_FAILED, closed). */
  onStatus?: (status: SinkStatus) => void;
}
