/** Shared CLI plumbing: the command type, argument parsing, error output and a progress bar. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FaceGateError, isFaceGateError, toFaceGateError } from '../core/errors.js';

export interface Command {
  name: string;
  /** One line for `facegate help`. */
  summary: string;
  /** Full usage text for `facegate <name> --help`. */
  usage: string;
  /** Runs the command; returns the process exit code. Throw FaceGateError for fatal failures. */
  run(argv: string[]): Promise<number>;
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean' },
  models: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** parseArgs with strict checking, turning node's errors into USAGE errors. */
export function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>): ParsedArgs {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true }) as ParsedArgs;
  } catch (e) {
    throw new FaceGateError('USAGE', (e as Error).message);
  }
}

/** A string flag's value (the last one when repeated). */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** A boolean flag's value. */
export function bool(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Parses a numeric flag, with a USAGE error naming the flag. */
export function numberFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new FaceGateError('USAGE', `--${flag} expects a number, got "${value}"`);
  return n;
}

/** Prints an error as `error[CODE]: message` with its hint; the stack only when verbose. Returns the exit code. */
export function reportError(e: unknown, verbose = false): number {
  const err = toFaceGateError(e);
  process.stderr.write(`error[${err.code}]: ${err.message}\n  hint: ${err.hint}\n`);
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  if (verbose && err.cause instanceof Error && err.cause.stack) process.stderr.write(`caused by: ${err.cause.stack}\n`);
  return isFaceGateError(err) && err.kind === 'usage' ? 2 : 1;
}

/** Writes one JSON line to stdout. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A progress bar on stderr, drawn only when stderr is a terminal (so logs and pipes stay clean). */
export class Progress {
  private done = 0;
  private readonly start = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);
  constructor(private readonly total: number, private readonly label = '') {}

  tick(n = 1): void {
    this.done += n;
    if (!this.tty) return;
    const width = 30;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 0;
    const filled = Math.round(frac * width);
    const elapsedS = (Date.now() - this.start) / 1000;
    const etaS = this.done > 0 ? (elapsedS / this.done) * (this.total - this.done) : 0;
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${elapsedS.toFixed(0)}s eta ${etaS.toFixed(0)}s `,
    );
  }

  finish(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
