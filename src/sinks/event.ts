/**
 * Builds and checks `facegate.event/v1` payloads (documented by schema/event.v1.schema.json). The builder rounds
 * numbers so payloads stay short and stable; the checker is what sinks and tests use to reject malformed events
 * with a coded error naming the field.
 */
import { randomUUID } from 'node:crypto';
import { FaceGateError } from '../core/errors.js';
import type { Box } from '../core/types.js';
import {
  EVENT_SCHEMA,
  STATUS_SCHEMA,
  type DeviceStatus,
  type EventIdentity,
  type FaceEvent,
  type FaceEventType,
} from './types.js';

/** What the pipeline knows about a decision; everything else (id, time, schema) the builder fills in. */
export interface EventInput {
  type: FaceEventType;
  deviceId: string;
  trackId: number;
  /** Required for `identified`, must be null (or absent) for `unknown`. */
  identity?: EventIdentity | null;
  /** Cosine similarity to the best identity; null/absent when the gallery is empty. */
  similarity?: number | null;
  /** Best minus runner-up similarity; null/absent with fewer than two identities. */
  margin?: number | null;
  /** Quality score in [0, 1] of the best face. */
  quality: number;
  box: Box;
  /** When the decision was made (Date or epoch milliseconds). Default: now. */
  time?: Date | number;
  /** JPEG bytes of the face crop; only included when given (the pipeline's `faceCrop` option, off by default). */
  faceJpeg?: Uint8Array;
  /** A fixed event id (tests, replays); default a fresh random UUID. */
  eventId?: string;
}

/** Device ids become MQTT topic levels: no wildcards, separators or control characters. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function invalid(field: string, message: string, value?: unknown): FaceGateError {
  return new FaceGateError('CONFIG_INVALID', `event.${field}: ${message}`, { details: { field, value } });
}

/** Throws CONFIG_INVALID (naming the field) unless `deviceId` can be used as a topic level. */
export function checkDeviceId(deviceId: unknown, field = 'deviceId'): string {
  if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) {
    throw new FaceGateError(
      'CONFIG_INVALID',
      `${field} must be 1-128 characters of letters, digits, '_', '.', ':' or '-' (starting with a letter or digit), got ${JSON.stringify(deviceId)}`,
      { details: { field, value: deviceId } },
    );
  }
  return deviceId;
}

/** A complete `facegate.event/v1` payload from what the pipeline knows. Throws CONFIG_INVALID on bad input. */
export function buildEvent(input: EventInput): FaceEvent {
  const time = input.time === undefined ? new Date() : new Date(input.time);
  const event: FaceEvent = {
    schema: EVENT_SCHEMA,
    type: input.type,
    eventId: input.eventId ?? randomUUID(),
    time: time.toISOString(),
    deviceId: input.deviceId,
    trackId: input.trackId,
    identity: input.identity ? { id: input.identity.id, name: input.identity.name } : null,
    similarity: input.similarity === undefined || input.similarity === null ? null : round(input.similarity, 4),
    margin: input.margin === undefined || input.margin === null ? null : round(input.margin, 4),
    quality: round(input.quality, 4),
    box: { x1: round(input.box.x1, 1), y1: round(input.box.y1, 1), x2: round(input.box.x2, 1), y2: round(input.box.y2, 1) },
  };
  if (input.faceJpeg) event.faceJpegBase64 = Buffer.from(input.faceJpeg).toString('base64');
  return checkEvent(event);
}

const EVENT_KEYS = new Set(['schema', 'type', 'eventId', 'time', 'deviceId', 'trackId', 'identity', 'similarity', 'margin', 'quality', 'box', 'faceJpegBase64']);

function isFiniteIn(x: unknown, lo: number, hi: number): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= lo && x <= hi;
}

/**
 * Checks that `value` is a valid `facegate.event/v1` payload (the same rules as the JSON Schema) and returns it
 * typed. Throws CONFIG_INVALID naming the first bad field.
 */
export function checkEvent(value: unknown): FaceEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('', 'must be an object', value);
  const e = value as Record<string, unknown>;
  for (const k of Object.keys(e)) if (!EVENT_KEYS.has(k)) throw invalid(k, 'is not a field of facegate.event/v1');
  if (e.schema !== EVENT_SCHEMA) throw invalid('schema', `must be "${EVENT_SCHEMA}"`, e.schema);
  if (e.type !== 'identified' && e.type !== 'unknown') throw invalid('type', 'must be "identified" or "unknown"', e.type);
  if (typeof e.eventId !== 'string' || !UUID_PATTERN.test(e.eventId)) throw invalid('eventId', 'must be a lower-case UUID', e.eventId);
  if (typeof e.time !== 'string' || !ISO_PATTERN.test(e.time) || Number.isNaN(Date.parse(e.time))) {
    throw invalid('time', 'must be an ISO 8601 UTC time', e.time);
  }
  checkDeviceId(e.deviceId, 'event.deviceId');
  if (!Number.isSafeInteger(e.trackId) || (e.trackId as number) < 0) throw invalid('trackId', 'must be a non-negative integer', e.trackId);
  if (e.type === 'identified') {
    const id = e.identity as Record<string, unknown> | null | undefined;
    if (typeof id !== 'object' || id === null || typeof id.id !== 'string' || id.id === '' || typeof id.name !== 'string') {
      throw invalid('identity', 'must be {id, name} for an identified event', id);
    }
    if (Object.keys(id).some((k) => k !== 'id' && k !== 'name')) throw invalid('identity', 'has fields other than id and name');
    if (e.similarity === null) throw invalid('similarity', 'is required for an identified event');
  } else if (e.identity !== null) {
    throw invalid('identity', 'must be null for an unknown event', e.identity);
  }
  if (e.similarity !== null && !isFiniteIn(e.similarity, -1, 1)) throw invalid('similarity', 'must be null or a number in [-1, 1]', e.similarity);
  if (e.margin !== null && !isFiniteIn(e.margin, 0, 2)) throw invalid('margin', 'must be null or a number in [0, 2]', e.margin);
  if (!isFiniteIn(e.quality, 0, 1)) throw invalid('quality', 'must be a number in [0, 1]', e.quality);
  const b = e.box as Record<string, unknown> | null;
  if (typeof b !== 'object' || b === null || Object.keys(b).length !== 4 || !['x1', 'y1', 'x2', 'y2'].every((k) => typeof b[k] === 'number' && Number.isFinite(b[k]))) {
    throw invalid('box', 'must be {x1, y1, x2, y2} of finite numbers', b);
  }
  if (e.faceJpegBase64 !== undefined && (typeof e.faceJpegBase64 !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(e.faceJpegBase64))) {
    throw invalid('faceJpegBase64', 'must be base64 text');
  }
  return value as FaceEvent;
}

/** A `facegate.status/v1` message (the retained `online` status, or the `offline` last will). */
export function buildStatus(
  state: DeviceStatus['state'],
  deviceId: string,
  extra: { version?: string; models?: Record<string, string>; details?: Record<string, unknown>; time?: Date | number } = {},
): DeviceStatus {
  checkDeviceId(deviceId);
  const status: DeviceStatus = {
    schema: STATUS_SCHEMA,
    state,
    deviceId,
    time: new Date(extra.time ?? Date.now()).toISOString(),
  };
  if (extra.version !== undefined) status.version = extra.version;
  if (extra.models !== undefined) status.models = { ...extra.models };
  if (extra.details !== undefined) status.details = { ...extra.details };
  return status;
}
