#!/usr/bin/env node
/** The facegate command line: dispatches to one module per command. Nothing imports this file. */
import type { Command } from './common.js';
import { reportError } from './common.js';

/** Commands load lazily so `facegate verify` does not pay for the MQTT client or the quantiser. */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  quantize: () => import('./commands/quantize.js'),
  bench: () => import('./commands/bench.js'),
  detect: () => import('./commands/detect.js'),
  embed: () => import('./commands/embed.js'),
  verify: () => import('./commands/verify.js'),
  eval: () => import('./commands/eval.js'),
  models: () => import('./commands/models.js'),
  doctor: () => import('./commands/doctor.js'),
  quality: () => import('./commands/quality.js'),
  demo: () => import('./commands/demo.js'),
  run: () => import('./commands/run.js'),
  enroll: () => import('./commands/enroll.js'),
  identify: () => import('./commands/identify.js'),
  gallery: () => import('./commands/gallery.js'),
};

async function help(): Promise<void> {
  const lines = ['facegate: edge face recognition (detect, embed, identify, live pipeline with MQTT events)', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const { command } = await load();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  }
  lines.push('', 'run `facegate <command> --help` for its options; errors print as error[CODE]: message.');
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    await help();
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    const { readFileSync } = await import('node:fs');
    const { packageRoot } = await import('../models/manifest.js');
    process.stdout.write(`${JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')).version}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`error[USAGE]: unknown command "${name}"\n  hint: run \`facegate help\`\n`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    return reportError(e, rest.includes('--verbose'));
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.exitCode = reportError(e, true);
  },
);
