/**
 * tools/make-planted-bert.ts: the command line of src/toy/planted-bert.ts.
 *   node --import tsx tools/make-planted-bert.ts --out DIR [--seed 1] [--hidden 32] [--layers 2] [--heads 2]
 */
import { UserError } from '../src/util/errors.ts';
import { makePlantedBert, parseArgs } from '../src/toy/planted-bert.ts';

try {
  const r = makePlantedBert(parseArgs(process.argv.slice(2)));
  console.log(`wrote ${r.dir}`);
  for (const p of r.planted) console.log(`planted layer ${p.layer}: units ${p.units.join(', ')}`);
  console.log(`flat unit ids: ${r.flatUnits.join(', ')}; evidence words: ${r.evidence.length}`);
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(e.message);
  process.exit(2);
}
