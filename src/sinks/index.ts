/** Event sinks: where the pipeline's decisions go (MQTT with a durable outbox, console JSON Lines, HTTP webhook). */
export * from './types.js';
export { buildEvent, buildStatus, checkEvent, checkDeviceId, DEVICE_ID_PATTERN, type EventInput } from './event.js';
export { createMqttSink, type MqttSink, type MqttSinkOptions, type MqttTlsOptions } from './mqtt.js';
export { createConsoleSink, type ConsoleSinkOptions } from './console.js';
export { createWebhookSink, type WebhookSinkOptions } from './webhook.js';
export { createFanoutSink } from './fanout.js';
export { Outbox, MemoryOutbox, OUTBOX_DEFAULTS, type MessageQueue, type OutboxEntry, type OutboxOptions, type OutboxStats } from './outbox.js';
