/**
 * tools/layout-table.ts: prints the activation memory plan of one NIG chunk (src/model/layout.ts, src/ig/layout.ts)
 * as a Markdown table, with the totals the engine sizes its chunks by.
 *   node --import tsx tools/layout-table.ts [--shape tiny|minilm-l6|bert-base|bert-large] [--tokens T] [--rows P] [--pairs S] [--scoring]
 *        [--attention probs|lse]   (what the attention keeps: probs, the CPU class; lse, the GPU class's fused attention)
 *   node --import tsx tools/layout-table.ts --doc > docs/memory.md    (npm run docs:memory; a test keeps them equal)
 */
import { layoutMarkdown, memoryDoc, SHAPES } from '../src/ig/layout-doc.ts';
import { UserError } from '../src/util/errors.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

try {
  if (process.argv.includes('--doc')) {
    process.stdout.write(memoryDoc());
    process.exit(0);
  }
  const shape = arg('--shape', 'bert-base');
  if (!(shape in SHAPES)) throw new UserError(`--shape ${shape}: one of ${Object.keys(SHAPES).join(', ')}`);
  const num = (n: string, d: string) => {
    const v = Number(arg(n, d));
    if (!Number.isInteger(v) || v < 1) throw new UserError(`${n} must be a positive integer, got ${arg(n, d)}`);
    return v;
  };
  const attention = arg('--attention', 'probs');
  if (attention !== 'probs' && attention !== 'lse') throw new UserError(`--attention ${attention}: probs (the CPU class) or lse (the GPU class)`);
  console.log(layoutMarkdown(SHAPES[shape], { T: num('--tokens', '128'), P: num('--rows', '1'), slots: num('--pairs', '1'), scoring: process.argv.includes('--scoring'), attention }));
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(`layout-table: ${e.message}`);
  process.exit(2);
}
