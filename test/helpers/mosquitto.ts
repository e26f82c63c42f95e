/**
 * A real MQTT broker for tests: Debian's mosquitto, started on a free loopback port with a temporary config
 * (127.0.0.1 only, anonymous clients, persistence in a temporary directory so a restarted broker keeps the
 * subscribers' QoS 1 sessions), stopped at the end. `.ci/run` installs the package; when run by hand the tests
 * start it themselves if it is installed. Under CI (`CI=true`) a missing binary fails the run instead of skipping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { IN_CI } from './shared.js';

/** Path of the mosquitto binary, or null when it is not installed. */
export function mosquittoPath(): string | null {
  for (const p of [process.env.MOSQUITTO_BIN, '/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) {
    if (p && existsSync(p)) return p;
  }
  const r = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** True when mosquitto is installed; under CI a missing binary throws (the run must fail), else the caller skips. */
export function haveMosquitto(): boolean {
  if (mosquittoPath()) return true;
  if (IN_CI) throw new Error('CI: mosquitto is not installed (apt-get install -y mosquitto; .ci/run does this)');
  console.warn('skipping: mosquitto is not installed (apt-get install -y mosquitto)');
  return false;
}

/** True when the openssl CLI (for the TLS test's certificates) is installed; under CI a missing one throws. */
export function haveOpenssl(): boolean {
  if (spawnSync('openssl', ['version']).status === 0) return true;
  if (IN_CI) throw new Error('CI: openssl is not installed (apt-get install -y openssl; .ci/run does this)');
  console.warn('skipping: openssl is not installed');
  return false;
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A running (or stopped) mosquitto on a fixed loopback port. */
export interface Broker {
  readonly port: number;
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  /** True while the broker process runs. */
  readonly running: boolean;
  /** Stops the broker (SIGTERM, then SIGKILL after 5 s); it saves its sessions first. */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the sessions it saved. */
  start(): Promise<void>;
  /** Stops it and deletes its temporary directory. */
  close(): Promise<void>;
}

/** PEM files made by `makeTestCertificates`. */
export interface TestCertificates {
  caPath: string;
  /** Server certificate for 127.0.0.1, signed by the CA. */
  serverCertPath: string;
  serverKeyPath: string;
  /** Client certificate (CN facegate-test-client), signed by the CA. */
  clientCertPath: string;
  clientKeyPath: string;
}

/** A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI. */
export function makeTestCertificates(dir: string): TestCertificates {
  const run = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  };
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=facegate-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, cn, ext] of [['server', '127.0.0.1', ['-extfile', 'server.ext']], ['client', 'facegate-test-client', []]] as const) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, ...ext);
  }
  return {
    caPath: join(dir, 'ca.pem'),
    serverCertPath: join(dir, 'server.pem'),
    serverKeyPath: join(dir, 'server.key'),
    clientCertPath: join(dir, 'client.pem'),
    clientKeyPath: join(dir, 'client.key'),
  };
}

export interface StartMosquittoOptions {
  /** Port on 127.0.0.1. Default: a free one. */
  port?: number;
  /** Serve MQTT over TLS with these files, requiring a client certificate signed by the CA. Default: plain TCP. */
  tls?: TestCertificates;
  /** Require one of these user names and passwords. Default: anonymous clients allowed. */
  users?: Record<string, string>;
}

/** Starts mosquitto on `port` (default: a free one) and resolves once it accepts connections. */
export async function startMosquitto(options: StartMosquittoOptions = {}): Promise<Broker> {
  if (options.port !== undefined) return startOn(options, options.port);
  // A free port can be taken by another test process between asking and binding: try a few.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(options, await freePort());
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

async function startOn(options: StartMosquittoOptions, port: number): Promise<Broker> {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'facegate-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  const auth = ['allow_anonymous true'];
  if (options.users) {
    const file = join(dir, 'passwords');
    writeFileSync(file, '');
    for (const [user, password] of Object.entries(options.users)) {
      const r = spawnSync('mosquitto_passwd', ['-b', file, user, password], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.error?.message ?? r.stderr}`);
    }
    auth.splice(0, 1, 'allow_anonymous false', `password_file ${file}`);
  }
  const tls = options.tls
    ? [`cafile ${options.tls.caPath}`, `certfile ${options.tls.serverCertPath}`, `keyfile ${options.tls.serverKeyPath}`, 'require_certificate true']
    : [];
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      ...tls,
      ...auth,
      'persistence true',
      `persistence_location ${dir}/`,
      // Without this, mosquitto started as root drops to the `mosquitto` user, who cannot write the temp dir.
      `user ${userInfo().username}`,
      'log_dest none',
      // Room for a burst of queued QoS 1 messages to a subscriber while it reconnects.
      'max_queued_messages 100000',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let stderr = '';

  async function start(): Promise<void> {
    if (child) return;
    stderr = '';
    const proc = spawn(bin!, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.once('exit', () => {
      if (child === proc) child = null;
    });
    child = proc;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child !== proc) throw new Error(`mosquitto exited at start: ${stderr}`);
      if (await canConnect(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`mosquitto did not listen on ${port} within 10 s: ${stderr}`);
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    child = null;
  }

  try {
    await start();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    port,
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    get running() {
      return child !== null;
    },
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One message a test subscriber received. */
export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  /** The parsed JSON payload. */
  json: Record<string, unknown>;
}

/** A QoS 1 subscriber with a persistent session (clean=false), as an integrator's back end would run it. */
export interface TestSubscriber {
  readonly messages: Received[];
  /** Messages whose payload has an eventId, in arrival order (duplicates kept). */
  events(): Received[];
  /** How many times each eventId arrived. */
  countsByEventId(): Map<string, number>;
  /** Resolves once `predicate` holds (checked on every message), or rejects after `timeoutMs`. */
  waitFor(predicate: (messages: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Connects an mqtt.js subscriber (QoS 1, clean=false, reconnecting every 100 ms) and subscribes to `topic`. */
export async function subscribe(url: string, topic: string): Promise<TestSubscriber> {
  const { connectAsync } = await import('mqtt');
  const client = await connectAsync(url, {
    clientId: `facegate-test-sub-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    clean: false,
    reconnectPeriod: 100,
    connectTimeout: 2000,
  });
  client.on('error', () => undefined); // reconnects while the broker is stopped
  const messages: Received[] = [];
  const listeners = new Set<() => void>();
  client.on('message', (t, payload, packet) => {
    const text = payload.toString('utf8');
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // kept with an empty json; the test's assertions on payloads catch it
    }
    messages.push({ topic: t, payload: text, retain: packet.retain, json });
    for (const l of [...listeners]) l();
  });
  await client.subscribeAsync(topic, { qos: 1 });
  const events = (): Received[] => messages.filter((m) => typeof m.json.eventId === 'string');
  return {
    messages,
    events,
    countsByEventId() {
      const counts = new Map<string, number>();
      for (const m of events()) counts.set(m.json.eventId as string, (counts.get(m.json.eventId as string) ?? 0) + 1);
      return counts;
    },
    waitFor(predicate, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!predicate(messages)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`subscriber: condition not met within ${timeoutMs} ms (${messages.length} messages)`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async close() {
      await client.endAsync(true);
    },
  };
}
