/**
 * `ir-neurons compare A B [--tol EPS] [--json]`: two run folders of one experiment (attribute --pairs, attribute
 * --dataset, demo/experiment --out) side by side — each tensor's largest absolute and relative difference, the rank
 * correlations and top-p% overlaps of every scheme, the pruning table's differences, the options and environments.
 * One screen of summary, or one JSON object. Exit 0 within tolerance, 1 beyond it, 2 on bad input.
 * Definitions and the default tolerance: docs/reproducibility.md (src/analysis/compare.ts).
 */
import { parseArgs, type CommandSpec } from './args.ts';
import { UserError } from '../util/errors.ts';
import { compareFolders, type Comparison } from '../run/compare.ts';
import { CUT_PERCENT, DEFAULT_TOL, SCALE_FLOOR } from '../analysis/compare.ts';
import { STANDARD_PERCENTS } from '../analysis/rankings.ts';

export const command: CommandSpec = {
  name: 'compare',
  usage: 'A B [--tol EPS] [--json]',
  summary: 'Compares two runs of one experiment (run or experiment folders): tensors, neuron rankings, top-p% overlaps, pruning,\noptions and environments. Exits 0 within tolerance, 1 beyond it, 2 on bad input.',
  options: {
    tol: { kind: 'number', arg: 'EPS', min: 0, default: String(DEFAULT_TOL), help: `largest relative difference of a tensor: max|a−b| / max(max|a|, max|b|, ${SCALE_FLOOR})` },
    json: { kind: 'boolean', help: 'print one JSON object with every number (and the verdict) instead of the summary' },
  },
  notes: [
    `Within tolerance: the same options, every tensor within --tol, and every ranked scheme's top-${CUT_PERCENT}% sets equal`,
    'but for near-ties (units within --tol of the cut in both runs). The default is for float32 runs on different',
    'adapters or kernel classes; see docs/reproducibility.md.',
  ],
  examples: ['ir-neurons compare out/demo-cpu out/demo-gpu', 'ir-neurons compare runs/a runs/b --tol 1e-3 --json'],
};

const e = (x: number) => (Number.isFinite(x) ? x.toExponential(1) : String(x));
const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const cut = (s: string | undefined, n = 60) => (s === undefined ? '-' : s.length > n ? `${s.slice(0, n - 1)}…` : s);

function minBy<T>(xs: readonly T[], v: (x: T) => number): T | undefined {
  let best: T | undefined;
  for (const x of xs) if (Number.isFinite(v(x)) && (best === undefined || v(x) < v(best))) best = x;
  return best;
}

/** The one-screen summary. */
export function summary(c: Comparison): string {
  const lines = [`compare: A ${c.a}`, `         B ${c.b}  (${c.kind} folders)`, `adapter A: ${c.adapters[0]}`, `adapter B: ${c.adapters[1]}`];
  const env = c.environment.filter((d) => !/^device$|adapter/i.test(d.key));
  lines.push(`environment: ${env.length ? `${env.length} key${env.length > 1 ? 's' : ''} differ` : 'the same but the adapter line'}`);
  for (const d of env.slice(0, 4)) lines.push(`  ${d.key}: ${cut(d.a, 40)} | ${cut(d.b, 40)}`);
  if (env.length > 4) lines.push(`  … +${env.length - 4} (--json)`);
  lines.push(`options: ${c.options.length ? `${c.options.length} differ — not the same experiment` : 'the same'}`);
  for (const d of c.options.slice(0, 4)) lines.push(`  ${d.key}: ${cut(d.a, 40)} | ${cut(d.b, 40)}`);
  if (c.options.length > 4) lines.push(`  … +${c.options.length - 4} (--json)`);
  const t = c.tensors.filter((x) => !x.note);
  const worstAbs = t.reduce<typeof t[0] | undefined>((m, x) => (m === undefined || x.maxAbs > m.maxAbs ? x : m), undefined);
  const worstRel = t.reduce<typeof t[0] | undefined>((m, x) => (m === undefined || x.maxRel > m.maxRel ? x : m), undefined);
  const beyond = c.tensors.filter((x) => !x.within).length;
  lines.push(`tensors: ${c.tensors.length} compared${worstAbs ? `, worst abs ${e(worstAbs.maxAbs)} (${worstAbs.name}), worst rel ${e(worstRel!.maxRel)} (${worstRel!.name})` : ''}; ${beyond} beyond --tol ${c.tol}${c.unmatchedTensors.length ? `; ${c.unmatchedTensors.length} in one folder only` : ''}`);
  if (c.rankings.length) {
    const rho = minBy(c.rankings, (r) => r.spearman), tau = minBy(c.rankings, (r) => r.kendall);
    lines.push(`rankings: ${c.rankings.length} schemes, min Spearman rho ${rho ? `${rho.spearman.toFixed(6)} (${rho.scheme})` : 'n/a'}, min Kendall tau ${tau ? `${tau.kendall.toFixed(6)} (${tau.scheme})` : 'n/a'}`);
    const at = STANDARD_PERCENTS.map((p) => {
      const m = minBy(c.rankings.map((r) => r.overlaps.find((o) => o.p === p)!).filter(Boolean), (o) => o.overlap);
      return `${p}% ${m ? pct(m.overlap) : 'n/a'}`;
    });
    lines.push(`overlaps (min over schemes): ${at.join(', ')}`);
  }
  if (c.pruning) {
    lines.push(`pruning: ${c.pruning.rows.length} rows, ${c.pruning.baselines.length} baselines; max |Δ nDCG@10| ${f4(c.pruning.maxDNdcg10)}, max |Δ MRR@10| ${f4(c.pruning.maxDMrr10)}${c.pruning.unmatched.length ? `; ${c.pruning.unmatched.length} in one table only` : ''}`);
  }
  lines.push(c.verdict.within
    ? `compare: within tolerance (--tol ${c.tol}: every tensor within it${c.rankings.length ? `, top-${CUT_PERCENT}% sets equal but near-ties` : ''}, same options)`
    : `compare: DIFFER: ${c.verdict.reasons.join('; ')}`);
  return `${lines.join('\n')}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('compare', argv, command);
  if (a.positionals.length !== 2) throw new UserError(`compare takes two folders, got ${a.positionals.length}${a.positionals.length ? ` (${a.positionals.join(' ')})` : ''}; e.g. ir-neurons compare out/demo-cpu out/demo-gpu`);
  const tol = (a.opts.tol as number | undefined) ?? DEFAULT_TOL;
  const c = compareFolders(a.positionals[0], a.positionals[1], tol);
  process.stdout.write(a.opts.json ? `${JSON.stringify({ ...c, verdict: { ...c.verdict, exit: c.verdict.within ? 0 : 1 } }, null, 1)}\n` : summary(c));
  return c.verdict.within ? 0 : 1;
}
