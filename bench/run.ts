/**
 * `npm run bench [-- AREA...]`: runs the benchmark suites and prints medians and ratios. With no AREA, all run.
 * Each suite is a module in bench/ exporting `run(): Promise<void>` that prints its own table.
 */
const SUITES: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  engine: () => import('./engine.js'),
  gallery: () => import('./gallery.js'),
  quality: () => import('./quality.js'),
  pipeline: () => import('./pipeline.js'),
  int8: () => import('./int8.js'),
  sinks: () => import('./sinks.js'),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length > 0 ? wanted : Object.keys(SUITES);
for (const name of names) {
  const load = SUITES[name];
  if (!load) {
    console.error(`unknown bench suite "${name}" (known: ${Object.keys(SUITES).join(', ')})`);
    process.exit(2);
  }
  console.log(`\n## bench: ${name}`);
  const suite = await load();
  await suite.run();
}
