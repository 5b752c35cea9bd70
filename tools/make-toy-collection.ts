/**
 * tools/make-toy-collection.ts: the command line of src/toy/collection.ts.
 *   node --import tsx tools/make-toy-collection.ts --out DIR [--seed 1] [--queries 12] [--docs-per-query 10]
 */
import { UserError } from '../src/util/errors.ts';
import { makeToyCollection, parseArgs } from '../src/toy/collection.ts';

try {
  const c = makeToyCollection(parseArgs(process.argv.slice(2)));
  const graded = c.docs.filter((d) => d.grade > 0).length;
  console.log(`wrote ${c.dir}: ${c.queries.length} queries, ${c.docs.length} passages (${graded} relevant), queries.tsv corpus.tsv qrels.txt run.txt`);
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(e.message);
  process.exit(2);
}
