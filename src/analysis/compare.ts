/**
 * Comparing two runs of one experiment (`ir-neurons compare`): tensors, the neuron rankings of every scheme, the
 * top-p% sets, the pruning table, the options and the environments; and the verdict. Plain arrays only; reading
 * the folders is src/run/compare.ts. The definitions (docs/reproducibility.md):
 * - a tensor's difference: maxAbs = max_i |a_i − b_i|; scale = max(max_i |a_i|, max_i |b_i|, SCALE_FLOOR);
 *   maxRel = maxAbs / scale. Relative to the tensor's largest magnitude, so entries near zero (most NIG entries)
 *   do not blow up; SCALE_FLOOR (0.1, in units of F, a logit) is the absolute floor for tensors that are all
 *   small, e.g. completeness deltas: residuals of O(1) values, whose float32 noise is absolute.
 *   Within tolerance: maxRel ≤ tol, and equal shapes. A NaN in one run only is an infinite difference.
 * - a scheme's ranking: its scores (groupScores: a dataset's mean, the fused mean, RRF, CombSUM) as ranking keys
 *   (|value| where the scheme cuts on it); Spearman ρ and Kendall τ-b of the two runs' keys over every unit.
 * - the overlap at p: |top_A ∩ top_B| / |top_A| of the scheme's top p% sets (buildSchemes), a fraction.
 * - the cut rule (CUT_PERCENT): each ranked scheme's top-5% sets agree, but for near-ties: a unit in one set and
 *   not the other whose key is, in both runs, within tol × max|key| of that run's cut key (the k-th largest).
 *   Intersections have no ranking of their own and are shown, not judged (their datasets' schemes are).
 */
import { overlap } from './overlaps.ts';
import { difference, rankKeys, sharedCount, STANDARD_PERCENTS, thresholdValue, topCount } from './rankings.ts';
import { buildSchemes, groupScores, labelMeans, type Cell, type DatasetGroups, type SchemeKind } from './schemes.ts';
import { kendallTauB, spearman } from './stats.ts';
import type { PruningTable } from './pruning.ts';

/**
 * The default tolerance (relative to each tensor's largest |value|) for float32 runs on different adapters or
 * kernel classes: 23x the largest difference measured between the CPU- and GPU-class kernels (docs/reproducibility.md).
 */
export const DEFAULT_TOL = 1e-4;
/** The absolute floor of a tensor's scale, in the units of the attributed function F (a logit), see the header. */
export const SCALE_FLOOR = 0.1;
/** The cut-off (percent) whose top sets the verdict requires to agree. */
export const CUT_PERCENT = 5;

export interface TensorDiff {
  name: string;
  shape: number[];
  maxAbs: number;
  scale: number;
  maxRel: number;
  within: boolean;
  /** why the tensor could not be compared entry by entry (shapes differ) */
  note?: string;
}

/** The difference of one tensor present in both runs (see the header). */
export function tensorDiff(name: string, a: { shape: number[]; values: ArrayLike<number> }, b: { shape: number[]; values: ArrayLike<number> }, tol: number): TensorDiff {
  if (a.shape.join('x') !== b.shape.join('x')) {
    return { name, shape: a.shape, maxAbs: NaN, scale: NaN, maxRel: NaN, within: false, note: `shape [${a.shape}] vs [${b.shape}]` };
  }
  let maxAbs = 0, scale = SCALE_FLOOR;
  const x = a.values, y = b.values;
  for (let i = 0; i < x.length; i++) {
    const p = x[i], q = y[i];
    if (Number.isNaN(p) || Number.isNaN(q)) {
      if (!(Number.isNaN(p) && Number.isNaN(q))) maxAbs = Infinity;
      continue;
    }
    const d = Math.abs(p - q);
    if (d > maxAbs) maxAbs = d;
    const m = Math.max(Math.abs(p), Math.abs(q));
    if (m > scale) scale = m;
  }
  const maxRel = maxAbs / scale;
  return { name, shape: a.shape, maxAbs, scale, maxRel, within: maxRel <= tol };
}

export interface OverlapAt {
  p: number;
  /** |top_A ∩ top_B| / |top_A|, a fraction in [0, 1] */
  overlap: number;
  size: number;
  shared: number;
}

export interface RankingDiff {
  scheme: string;
  kind: SchemeKind;
  /** NaN (null in JSON) for intersections (no ranking) and constant rankings */
  spearman: number;
  kendall: number;
  overlaps: OverlapAt[];
  /** the cut rule at CUT_PERCENT; undefined for intersections (not judged) */
  cutAgrees?: boolean;
  /** units of one top-CUT_PERCENT set only, every one a near-tie when cutAgrees */
  cutDiffers?: number[];
}

export interface RunCells {
  cells: readonly Cell[];
  groups: DatasetGroups;
}

/** Are the units where two top sets differ near-ties of both rankings (see the header)? */
function nearTies(units: readonly number[], keysA: Float64Array, keysB: Float64Array, k: number, tol: number): boolean {
  if (units.length === 0) return true;
  const near = (keys: Float64Array) => {
    const t = thresholdValue(keys, k);
    let scale = 0;
    for (let u = 0; u < keys.length; u++) scale = Math.max(scale, Math.abs(keys[u]));
    return units.every((u) => Math.abs(keys[u] - t) <= tol * scale);
  };
  return near(keysA) && near(keysB);
}

/** Rank correlations and top-p% overlaps of every scheme of two runs with the same cells and groups. */
export function rankingDiffs(a: RunCells, b: RunCells, tol: number, ps: readonly number[] = STANDARD_PERCENTS, opts: { absolute?: boolean } = {}): RankingDiff[] {
  const pAll = [...new Set([...ps, CUT_PERCENT])].sort((x, y) => x - y);
  const setsA = new Map(pAll.map((p) => [p, buildSchemes(a.cells, p, { groups: a.groups, ...opts })]));
  const setsB = new Map(pAll.map((p) => [p, buildSchemes(b.cells, p, { groups: b.groups, ...opts })]));
  return setsA.get(pAll[0])!.map((s) => {
    const scored = (r: RunCells) => groupScores(s.kind, labelMeans(r.cells, s.label, s.datasets), opts);
    const sa = scored(a), sb = scored(b);
    const keysA = sa && rankKeys(sa.scores, { absolute: sa.absolute });
    const keysB = sb && rankKeys(sb.scores, { absolute: sb.absolute });
    const at = (p: number) => {
      const ua = setsA.get(p)!.find((x) => x.name === s.name)!.units;
      const ub = setsB.get(p)!.find((x) => x.name === s.name)!.units;
      return { ua, ub };
    };
    const overlaps = ps.map((p) => {
      const { ua, ub } = at(p);
      return { p, overlap: overlap(ua, ub) / 100, size: ua.length, shared: sharedCount(ua, ub) };
    });
    const out: RankingDiff = { scheme: s.name, kind: s.kind, spearman: keysA ? spearman(keysA, keysB!) : NaN, kendall: keysA ? kendallTauB(keysA, keysB!) : NaN, overlaps };
    if (keysA && keysB) {
      const { ua, ub } = at(CUT_PERCENT);
      const differs = [...difference(ua, ub), ...difference(ub, ua)].sort((x, y) => x - y);
      out.cutAgrees = nearTies(differs, keysA, keysB, topCount(CUT_PERCENT, keysA.length), tol);
      out.cutDiffers = differs;
    }
    return out;
  });
}

export interface PruningRowDiff {
  dataset: string;
  scheme: string;
  p: number;
  ndcg10: [number, number];
  mrr10: [number, number];
  dNdcg10: number;
  dMrr10: number;
  /** the difference of the mean nDCG@10 of the random sets */
  dRandomNdcg10: number;
}

export interface PruningDiff {
  baselines: { dataset: string; dNdcg10: number; dMrr10: number }[];
  rows: PruningRowDiff[];
  /** rows (dataset scheme p%) or baselines present in one table only */
  unmatched: string[];
  maxDNdcg10: number;
  maxDMrr10: number;
}

/** The differences of two pruning tables, row by row (matched by dataset, scheme and p). */
export function pruningDiff(a: PruningTable, b: PruningTable): PruningDiff {
  const unmatched: string[] = [];
  const baselines = a.baselines.flatMap((x) => {
    const y = b.baselines.find((z) => z.dataset === x.dataset);
    if (!y) { unmatched.push(`baseline ${x.dataset}`); return []; }
    return [{ dataset: x.dataset, dNdcg10: y.ndcg10 - x.ndcg10, dMrr10: y.mrr10 - x.mrr10 }];
  });
  for (const y of b.baselines) if (!a.baselines.some((x) => x.dataset === y.dataset)) unmatched.push(`baseline ${y.dataset}`);
  const id = (r: { dataset: string; scheme: string; p: number }) => `${r.dataset} ${r.scheme} ${r.p}%`;
  const rows = a.rows.flatMap((x) => {
    const y = b.rows.find((z) => id(z) === id(x));
    if (!y) { unmatched.push(id(x)); return []; }
    return [{
      dataset: x.dataset, scheme: x.scheme, p: x.p, ndcg10: [x.ndcg10.value, y.ndcg10.value] as [number, number], mrr10: [x.mrr10.value, y.mrr10.value] as [number, number],
      dNdcg10: y.ndcg10.value - x.ndcg10.value, dMrr10: y.mrr10.value - x.mrr10.value, dRandomNdcg10: y.ndcg10.random.mean - x.ndcg10.random.mean,
    }];
  });
  for (const y of b.rows) if (!a.rows.some((x) => id(x) === id(y))) unmatched.push(id(y));
  const maxOf = (xs: number[]) => xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return {
    baselines, rows, unmatched,
    maxDNdcg10: maxOf([...rows.map((r) => r.dNdcg10), ...baselines.map((r) => r.dNdcg10)]),
    maxDMrr10: maxOf([...rows.map((r) => r.dMrr10), ...baselines.map((r) => r.dMrr10)]),
  };
}

/** A nested object as dotted keys and JSON-encoded leaves ({a: {b: 1}} → {'a.b': '1'}); arrays are leaves. */
export function flatten(o: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = typeof o === 'string' ? o : JSON.stringify(o ?? null);
  return out;
}

export interface KeyDiff {
  key: string;
  a: string | undefined;
  b: string | undefined;
}

/** The keys of two flattened objects whose values differ (or that one lacks), in sorted order. */
export function keyDiffs(a: Record<string, string>, b: Record<string, string>): KeyDiff[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((k) => a[k] !== b[k]).map((key) => ({ key, a: a[key], b: b[key] }));
}

export interface Verdict {
  within: boolean;
  /** why not, one phrase each (empty when within) */
  reasons: string[];
}

const g3 = (x: number) => (Number.isFinite(x) ? x.toExponential(1) : String(x));

/** Within tolerance: same options, the same tensors, every tensor within tol, every ranked scheme's top-CUT_PERCENT sets agree. */
export function verdict(r: { options: KeyDiff[]; tensors: TensorDiff[]; unmatchedTensors?: string[]; rankings: RankingDiff[]; pruning?: PruningDiff }, tol: number): Verdict {
  const reasons: string[] = [];
  if (r.options.length) reasons.push(`options differ (${r.options.slice(0, 3).map((d) => `${d.key} ${d.a ?? '-'} vs ${d.b ?? '-'}`).join(', ')}${r.options.length > 3 ? `, +${r.options.length - 3}` : ''}): not the same experiment`);
  const shapes = r.tensors.filter((t) => t.note);
  if (shapes.length) reasons.push(`${shapes.length} tensor${shapes.length > 1 ? 's' : ''} of other shapes (${shapes[0].name}: ${shapes[0].note})`);
  const one = r.unmatchedTensors ?? [];
  if (one.length) reasons.push(`${one.length} tensor${one.length > 1 ? 's' : ''} in one run only (${one.slice(0, 2).join(', ')})`);
  const beyond = r.tensors.filter((t) => !t.note && !t.within).sort((x, y) => y.maxRel - x.maxRel);
  if (beyond.length) reasons.push(`${beyond.length} tensor${beyond.length > 1 ? 's' : ''} beyond --tol ${tol} (worst ${beyond[0].name}: rel ${g3(beyond[0].maxRel)})`);
  const cut = r.rankings.filter((x) => x.cutAgrees === false);
  if (cut.length) {
    const o = cut[0].overlaps.find((x) => x.p === CUT_PERCENT);
    reasons.push(`top-${CUT_PERCENT}% sets differ beyond near-ties in ${cut.length} scheme${cut.length > 1 ? 's' : ''} (${cut[0].scheme}: ${cut[0].cutDiffers!.length} units${o ? `, overlap ${(100 * o.overlap).toFixed(1)}%` : ''})`);
  }
  if (r.pruning?.unmatched.length) reasons.push(`pruning rows in one table only (${r.pruning.unmatched.slice(0, 2).join(', ')})`);
  return { within: reasons.length === 0, reasons };
}
