/**
 * tools/make-tiny-bert.ts: the command line of src/toy/tiny-bert.ts.
 *   node --import tsx tools/make-tiny-bert.ts --out weights/tiny [--seed 1] [--hidden 32] [--layers 2]
 */
import { UserError } from '../src/util/errors.ts';
import { toyVocab } from '../src/toy/vocab.ts';
import { makeTinyBert, parseArgs } from '../src/toy/tiny-bert.ts';

try {
  const o = parseArgs(process.argv.slice(2));
  makeTinyBert(o);
  console.log(`wrote ${o.out} (${o.dtype ?? 'F32'}, ${toyVocab().length}-word vocabulary)`);
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(e.message);
  process.exit(2);
}
