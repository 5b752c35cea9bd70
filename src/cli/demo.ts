/**
 * `ir-neurons demo [--out DIR] [--steps M]`: the main job on the embedded default, end to end — the bundled
 * experiment file experiments/demo.json run by `ir-neurons experiment` (src/cli/experiment.ts): a tiny model whose
 * FFN neurons have planted, known roles (tools/make-planted-bert.ts: relevance neurons shared by every domain, OOD
 * neurons, non-relevance neurons, neurons that do nothing) and three toy collections (tools/make-toy-collection.ts:
 * one in-domain, two out-of-domain): NIG over every dataset and label, rankings, schemes, pruning against random
 * sets, and the report, which shows every known-answer check beside its section (Fig. 3 also with the in-domain
 * dataset left out). Exits 1 if a check fails. Re-running reuses what is there (a finished demo: one line).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type CommandSpec } from './args.ts';
import { readExperiment } from './experiment-file.ts';
import { runExperiment } from './experiment.ts';
import { REPO_ROOT } from '../run/datasets.ts';
import { UserError } from '../util/errors.ts';

/** The bundled demo experiment (shipped with the package, beside data/). */
export const DEMO_EXPERIMENT = fileURLToPath(new URL('../../experiments/demo.json', import.meta.url));

export const command: CommandSpec = {
  name: 'demo',
  usage: '[--out DIR] [--steps M]',
  summary: 'The main job end to end on a bundled tiny model with planted neurons and three toy collections: NIG, rankings,\npruning against random sets, and the report. The short form of `ir-neurons experiment experiments/demo.json`;\nre-running reuses (or resumes) what is already there.',
  options: {
    out: { kind: 'string', arg: 'DIR', derived: 'out/demo', help: 'output folder' },
    steps: { kind: 'int', arg: 'M', min: 1, derived: "experiments/demo.json's (20)", help: 'NIG steps' },
  },
  examples: ['ir-neurons demo --out /tmp/demo'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('demo', argv, command);
  if (a.positionals.length) throw new UserError(`unexpected argument '${a.positionals[0]}' (see ir-neurons demo --help)`);
  const exp = readExperiment(DEMO_EXPERIMENT);
  if (a.opts.steps !== undefined) exp.attribute.steps = a.opts.steps as number;
  return runExperiment(exp, { out: (a.opts.out as string | undefined) ?? join(REPO_ROOT, 'out/demo'), log: 'demo' });
}
