/**
 * Attribution schemes: which units count as "top" for a dataset, a group of datasets, or a fusion of them.
 * Input: aggregated NIG cells, one per (dataset, label); output: unit sets (ascending flat indices
 * u = layer * dff + neuron). Plain arrays only, no GPU code.
 *
 * Kinds of scheme (each at one cut-off p, in percent, and one label: 'rel' cells give "relevance" neurons,
 * 'nonrel' cells "non-relevance" neurons):
 * - dataset:      top p% of the dataset's mean vector (sum / count).
 * - intersection: units in the top p% of every dataset of the group (can be smaller than p%).
 * - fusion:       top p% of the mean of the per-dataset mean vectors (each dataset weighs the same, whatever its
 *                 pair count).
 * - rrf:          reciprocal rank fusion, score(u) = Σ_d 1 / (k + rank_d(u)), k = 60, rank_d from dataset d's
 *                 ranking (src/analysis/rankings.ts order: key descending, lower index first), then top p%.
 * - combsum:      CombSUM of z-scores: Σ_d z_d(u), z_d = (key_d − mean) / std over the units of dataset d
 *                 (population std), then top p%.
 * With `absolute`, per-dataset keys are |mean| (dataset, intersection, rrf ranks, combsum z of |mean|) and the
 * fusion cut is on |fused mean|; rrf and combsum scores are then cut signed, being already magnitudes.
 * Groups: 'in-domain', 'out-of-domain' and 'all' (their union), named by the caller.
 */
import { UserError } from '../util/errors.ts';
import { intersect, rankKeys, rankPositions, topCount, topK, topUnits, type RankOptions } from './rankings.ts';
import { Rng, zScores } from './stats.ts';

export type Label = 'rel' | 'nonrel';
export const LABELS: readonly Label[] = ['rel', 'nonrel'];

/** The token segments a cell may keep apart, in this order. */
export const SEGMENTS = ['cls', 'query', 'sep1', 'passage', 'sep2'] as const;
export type Segment = (typeof SEGMENTS)[number];

/** Aggregated NIG of one (dataset, label): sums over `count` pairs of each pair's token-summed NIG per unit. */
export interface Cell {
  dataset: string;
  label: Label;
  count: number;
  sum: Float64Array;   // (layers * dff) Σ_pairs NIG_u
  sumSq: Float64Array; // (layers * dff) Σ_pairs NIG_u²
  layers: number;
  dff: number;
  /** optional: 5 of (layers * dff), Σ_pairs of the NIG summed over one segment's tokens, in SEGMENTS order */
  segments?: Float64Array[];
}

export interface DatasetGroups {
  inDomain: readonly string[];
  outOfDomain: readonly string[];
}
export type GroupName = 'in-domain' | 'out-of-domain' | 'all';
export const GROUPS: readonly GroupName[] = ['in-domain', 'out-of-domain', 'all'];

export type SchemeKind = 'dataset' | 'intersection' | 'fusion' | 'rrf' | 'combsum';
export const GROUP_KINDS: readonly SchemeKind[] = ['intersection', 'fusion', 'rrf', 'combsum'];

export interface Scheme {
  /** `${kind}/${group or dataset}/${label}`, e.g. `fusion/in-domain/rel`, `dataset/msmarco/nonrel` */
  name: string;
  kind: SchemeKind;
  /** group name, or the dataset name for kind 'dataset' */
  group: string;
  label: Label;
  p: number;
  datasets: string[];
  /** ascending unit indices */
  units: Uint32Array;
}

export interface SchemeOptions extends RankOptions {
  groups: DatasetGroups;
  /** default: every kind */
  kinds?: readonly SchemeKind[];
  /** default: the labels that have cells */
  labels?: readonly Label[];
  /** RRF constant, default 60 */
  rrfK?: number;
  /** rank a segment's mean instead of the whole-pair mean */
  segment?: Segment;
}

/** Mean NIG per unit of a cell (sum / count), or of one segment. */
export function cellMean(cell: Cell, segment?: Segment): Float64Array {
  const n = cell.layers * cell.dff;
  const what = `cell (${cell.dataset}, ${cell.label})`;
  if (!(cell.count > 0)) throw new UserError(`${what} has count ${cell.count}; a mean needs at least one pair (drop the cell or add pairs)`);
  if (cell.sum.length !== n) throw new UserError(`${what}: sum has ${cell.sum.length} entries, expected layers x dff = ${n}; check the aggregation`);
  let src = cell.sum;
  if (segment !== undefined) {
    const s = SEGMENTS.indexOf(segment);
    if (!cell.segments || cell.segments.length !== SEGMENTS.length) throw new UserError(`${what} has no per-segment sums; aggregate with segments to rank by '${segment}'`);
    src = cell.segments[s];
    if (src.length !== n) throw new UserError(`${what}: segment '${segment}' has ${src.length} entries, expected ${n}; check the aggregation`);
  }
  const out = new Float64Array(n);
  for (let u = 0; u < n; u++) out[u] = src[u] / cell.count;
  return out;
}

/** The datasets of a named group: in-domain, out-of-domain, or all (in-domain first, no repeats). */
export function groupDatasets(groups: DatasetGroups, name: GroupName): string[] {
  if (name === 'in-domain') return [...groups.inDomain];
  if (name === 'out-of-domain') return [...groups.outOfDomain];
  return [...new Set([...groups.inDomain, ...groups.outOfDomain])];
}

/** Mean vectors of `label` for each dataset, in the given order; every dataset must have such a cell. */
export function labelMeans(cells: readonly Cell[], label: Label, datasets: readonly string[], segment?: Segment): Float64Array[] {
  const shape = cells[0] ? `${cells[0].layers}x${cells[0].dff}` : '';
  return datasets.map((d) => {
    const matches = cells.filter((c) => c.dataset === d && c.label === label);
    if (matches.length === 0) throw new UserError(`no '${label}' cell for dataset '${d}'; aggregate that dataset's ${label === 'rel' ? 'relevant' : 'non-relevant'} pairs or drop it from the group`);
    if (matches.length > 1) throw new UserError(`${matches.length} '${label}' cells for dataset '${d}'; merge them into one`);
    const c = matches[0];
    if (`${c.layers}x${c.dff}` !== shape) throw new UserError(`cell (${d}, ${label}) is ${c.layers} layers x ${c.dff} neurons, others ${shape}; aggregate every dataset with the same model`);
    return cellMean(c, segment);
  });
}

function sameLength(vs: readonly ArrayLike<number>[], what: string): number {
  if (vs.length === 0) throw new UserError(`${what}: no dataset vectors given; a group needs at least one dataset`);
  const n = vs[0].length;
  for (const v of vs) if (v.length !== n) throw new UserError(`${what}: vectors of ${n} and ${v.length} units; give every dataset the same units`);
  return n;
}

/** Fusion vector: the entry-wise mean of the per-dataset mean vectors. */
export function fuseMeans(means: readonly ArrayLike<number>[]): Float64Array {
  const n = sameLength(means, 'fusion');
  const out = new Float64Array(n);
  for (const m of means) for (let u = 0; u < n; u++) out[u] += m[u];
  for (let u = 0; u < n; u++) out[u] /= means.length;
  return out;
}

/** Reciprocal rank fusion scores: Σ_d 1 / (k + rank_d(u)), rank 1-based. */
export function rrfScores(means: readonly ArrayLike<number>[], opts: RankOptions & { k?: number } = {}): Float64Array {
  const n = sameLength(means, 'rrf');
  const k = opts.k ?? 60;
  if (!(k >= 0)) throw new UserError(`RRF constant k = ${k} is negative; use k >= 0 (60 is usual)`);
  const out = new Float64Array(n);
  for (const m of means) {
    const rank = rankPositions(m, opts);
    for (let u = 0; u < n; u++) out[u] += 1 / (k + rank[u]);
  }
  return out;
}

/** CombSUM of per-dataset z-scores over units (z of |mean| with `absolute`). */
export function combSumScores(means: readonly ArrayLike<number>[], opts: RankOptions = {}): Float64Array {
  const n = sameLength(means, 'combsum');
  const out = new Float64Array(n);
  for (const m of means) {
    const z = zScores(rankKeys(m, opts));
    for (let u = 0; u < n; u++) out[u] += z[u];
  }
  return out;
}

/** Units in the top p% of every vector. */
export function intersectionUnits(means: readonly ArrayLike<number>[], p: number, opts: RankOptions = {}): Uint32Array {
  sameLength(means, 'intersection');
  let set = topUnits(means[0], p, opts);
  for (let d = 1; d < means.length; d++) set = intersect(set, topUnits(means[d], p, opts));
  return set;
}

/**
 * The whole ranking of a scheme kind over the given mean vectors: the scores its top p% is cut from, and whether
 * the cut takes |score|. Undefined for 'intersection', a set without a ranking of its own.
 */
export function groupScores(kind: SchemeKind, means: readonly ArrayLike<number>[], opts: RankOptions & { rrfK?: number } = {}): { scores: Float64Array; absolute: boolean } | undefined {
  switch (kind) {
    case 'dataset':
      if (means.length !== 1) throw new UserError(`a 'dataset' scheme takes one mean vector, got ${means.length}; use a group kind for several`);
      return { scores: Float64Array.from(means[0]), absolute: !!opts.absolute };
    case 'intersection': return undefined;
    case 'fusion': return { scores: fuseMeans(means), absolute: !!opts.absolute };
    case 'rrf': return { scores: rrfScores(means, { k: opts.rrfK, absolute: opts.absolute }), absolute: false };
    case 'combsum': return { scores: combSumScores(means, opts), absolute: false };
  }
}

/** The unit set of one group scheme kind over the given mean vectors. */
export function groupUnits(kind: SchemeKind, means: readonly ArrayLike<number>[], p: number, opts: RankOptions & { rrfK?: number } = {}): Uint32Array {
  if (kind === 'intersection') return intersectionUnits(means, p, opts);
  const r = groupScores(kind, means, opts)!;
  return topUnits(r.scores, p, { absolute: r.absolute });
}

/**
 * Every scheme at cut-off p: per label, one 'dataset' scheme per dataset that has a cell (groups' order first,
 * then the rest in cell order), then each group kind for each non-empty group.
 */
export function buildSchemes(cells: readonly Cell[], p: number, opts: SchemeOptions): Scheme[] {
  const kinds = opts.kinds ?? ['dataset', ...GROUP_KINDS];
  for (const k of kinds) if (!['dataset', ...GROUP_KINDS].includes(k)) throw new UserError(`unknown scheme kind '${k}'; known: dataset, ${GROUP_KINDS.join(', ')}`);
  const labels = opts.labels ?? LABELS.filter((l) => cells.some((c) => c.label === l));
  const known = new Set(cells.map((c) => c.dataset));
  for (const d of groupDatasets(opts.groups, 'all')) {
    if (!known.has(d)) throw new UserError(`group dataset '${d}' has no cells; aggregate it first or remove it from the groups`);
  }
  const order = [...new Set([...groupDatasets(opts.groups, 'all'), ...cells.map((c) => c.dataset)])];
  const out: Scheme[] = [];
  for (const label of labels) {
    if (kinds.includes('dataset')) {
      for (const d of order) {
        if (!cells.some((c) => c.dataset === d && c.label === label)) continue;
        const units = topUnits(labelMeans(cells, label, [d], opts.segment)[0], p, opts);
        out.push({ name: `dataset/${d}/${label}`, kind: 'dataset', group: d, label, p, datasets: [d], units });
      }
    }
    for (const group of GROUPS) {
      const datasets = groupDatasets(opts.groups, group);
      if (datasets.length === 0) continue;
      const means = labelMeans(cells, label, datasets, opts.segment);
      for (const kind of GROUP_KINDS) {
        if (!kinds.includes(kind)) continue;
        out.push({ name: `${kind}/${group}/${label}`, kind, group, label, p, datasets, units: groupUnits(kind, means, p, opts) });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- bootstrap stability

/**
 * Per-pair NIG: either the vectors themselves ([pairs][units]) or a sampler that returns the mean over the pairs
 * at `indices` (repeats count with their multiplicity), e.g. a GPU reduction.
 */
export type PairSource = readonly ArrayLike<number>[] | { count: number; mean(indices: Uint32Array): ArrayLike<number> };

export interface BootstrapOptions extends RankOptions {
  /** number of resamples B, default 100 */
  resamples?: number;
  /** PRNG seed, default 0 */
  seed?: number;
}

export interface Stability {
  /** the top p% set of the mean over all pairs, ascending */
  units: Uint32Array;
  /** (units.length) fraction of resamples in which units[i] is in the resample's top p% */
  stability: Float64Array;
  resamples: number;
}

function meanOfPairs(pairs: readonly ArrayLike<number>[], indices: Uint32Array): Float64Array {
  const out = new Float64Array(pairs[0].length);
  for (const i of indices) {
    const v = pairs[i];
    for (let u = 0; u < out.length; u++) out[u] += v[u];
  }
  for (let u = 0; u < out.length; u++) out[u] /= indices.length;
  return out;
}

/**
 * Bootstrap stability of the top p% set: B resamples of the pairs with replacement (same size, seeded), the top
 * p% of each resample's mean, and for each unit of the original set the fraction of resamples that keep it.
 */
export function bootstrapStability(source: PairSource, p: number, opts: BootstrapOptions = {}): Stability {
  const B = opts.resamples ?? 100;
  if (!(Number.isInteger(B) && B >= 1)) throw new UserError(`bootstrap resamples = ${B}; use a positive integer (100 is usual)`);
  let count: number;
  let mean: (idx: Uint32Array) => ArrayLike<number>;
  if (Array.isArray(source)) {
    const pairs = source as readonly ArrayLike<number>[];
    sameLength(pairs, 'bootstrap');
    count = pairs.length;
    mean = (idx) => meanOfPairs(pairs, idx);
  } else {
    const s = source as { count: number; mean(indices: Uint32Array): ArrayLike<number> };
    count = s.count;
    mean = (idx) => s.mean(idx);
  }
  if (!(count >= 1)) throw new UserError(`bootstrap needs at least one pair, got ${count}; aggregate pairs first`);
  const all = new Uint32Array(count);
  for (let i = 0; i < count; i++) all[i] = i;
  const base = mean(all);
  const units = topUnits(base, p, opts);
  const k = topCount(p, base.length);
  const kept = new Float64Array(units.length);
  const rng = new Rng(opts.seed ?? 0);
  const idx = new Uint32Array(count);
  const inTop = new Uint8Array(base.length);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < count; i++) idx[i] = rng.int(count);
    const top = topK(mean(idx), k, opts);
    inTop.fill(0);
    for (const u of top) inTop[u] = 1;
    for (let i = 0; i < units.length; i++) kept[i] += inTop[units[i]];
  }
  for (let i = 0; i < kept.length; i++) kept[i] /= B;
  return { units, stability: kept, resamples: B };
}
