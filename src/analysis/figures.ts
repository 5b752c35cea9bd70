/**
 * The paper's figures on plain arrays (no GPU): Fig. 2, the overlap between pairs of per-dataset attribution
 * schemes as curves over the cut-off p; Fig. 3, the intersection of the top-p% sets of every dataset, and of
 * user-chosen subsets ("all but X", computed from the per-dataset cells, not from the run's groups), plus the
 * overlap of relevance and non-relevance sets of each dataset; the top neurons, named `L7.1234`, with their mean
 * NIG in every cell and their per-segment split; and the known-answer checks of a planted model.
 *
 * Orientation: a run attributes one target for every pair (e.g. softmax[1], "relevant"). `orientCells` turns the
 * cells of the other label around, so that every cell is ranked by NIG towards its own label's class: for two
 * labels softmax[0] = 1 − softmax[1], so NIG towards "non-relevant" is exactly −NIG towards "relevant" (and for a
 * 1-label logit, −logit is the non-relevance score). "Non-relevance neurons" are then the top units of the
 * non-relevant cells in that orientation: the units that push non-relevant pairs towards "non-relevant".
 */
import { UserError } from '../util/errors.ts';
import { sharedCount, topCount, topK, topUnits, type RankOptions } from './rankings.ts';
import { fuseMeans, groupDatasets, intersectionUnits, labelMeans, SEGMENTS, type Cell, type DatasetGroups, type Label } from './schemes.ts';
import { oodNeurons } from './overlaps.ts';

/** `L7.1234` for flat unit u = layer · dff + neuron. */
export function unitName(u: number, dff: number): string {
  return `L${Math.floor(u / dff)}.${u % dff}`;
}

/** The label whose class the run's target measures: 'nonrel' for target 'nonrelevant', else 'rel'. */
export function targetLabel(target: string | undefined): Label {
  return target === 'nonrelevant' ? 'nonrel' : 'rel';
}

/** Cells turned so that each is read towards its own label (see the header); cells of the target's label are returned as they are. */
export function orientCells(cells: readonly Cell[], target: string | undefined): Cell[] {
  const own = targetLabel(target);
  return cells.map((c) => c.label === own ? c : {
    ...c, sum: c.sum.map((x) => -x), segments: c.segments?.map((s) => s.map((x) => -x)),
  });
}

/** The datasets that have a cell of `label`, in first-seen order. */
export function datasetsWith(cells: readonly Cell[], label: Label): string[] {
  return [...new Set(cells.filter((c) => c.label === label).map((c) => c.dataset))];
}

// ---------------------------------------------------------------- Fig. 2

export interface SchemePairCurve {
  /** `a ∩ b` */
  name: string;
  a: string;
  b: string;
  /** |A ∩ B| / |A| in percent at each p (per-dataset sets of one p have the same size, so it is symmetric) */
  values: number[];
}

/** Fig. 2: for each unordered pair of datasets with `label` cells, the overlap of their top-p% sets at every p. */
export function schemePairCurves(cells: readonly Cell[], label: Label, ps: readonly number[], opts: RankOptions = {}): SchemePairCurve[] {
  const ds = datasetsWith(cells, label);
  const sets = new Map(ds.map((d) => [d, ps.map((p) => topUnits(labelMeans(cells, label, [d])[0], p, opts))]));
  const out: SchemePairCurve[] = [];
  for (let i = 0; i < ds.length; i++) {
    for (let j = i + 1; j < ds.length; j++) {
      const A = sets.get(ds[i])!, B = sets.get(ds[j])!;
      out.push({ name: `${ds[i]} ∩ ${ds[j]}`, a: ds[i], b: ds[j], values: ps.map((_, k) => (A[k].length ? (100 * sharedCount(A[k], B[k])) / A[k].length : NaN)) });
    }
  }
  return out;
}

// ---------------------------------------------------------------- Fig. 3

export interface IntersectionRow {
  /** 'all datasets' or 'all but X, Y' */
  name: string;
  datasets: string[];
  excluded: string[];
  /** |∩| at each p */
  sizes: number[];
  /** |∩| / topCount(p) in percent at each p */
  shares: number[];
  /** the intersection at each p (ascending unit indices) */
  units: Uint32Array[];
}

/**
 * Fig. 3: the intersection of the per-dataset top-p% sets of `label` over every dataset, and over every dataset
 * but each list of `exclusions` (any datasets of the run). Unknown names are a UserError; an exclusion that
 * leaves no dataset is one too.
 */
export function intersectionSummary(cells: readonly Cell[], label: Label, ps: readonly number[], exclusions: readonly (readonly string[])[] = [], opts: RankOptions = {}): IntersectionRow[] {
  const all = datasetsWith(cells, label);
  const known = new Set(cells.map((c) => c.dataset));
  const N = cells[0] ? cells[0].layers * cells[0].dff : 0;
  const rows: IntersectionRow[] = [];
  for (const ex of [[], ...exclusions]) {
    for (const d of ex) if (!known.has(d)) throw new UserError(`--exclude: dataset '${d}' is not in the run (datasets: ${[...known].join(', ')}); name datasets of the run`);
    const datasets = all.filter((d) => !ex.includes(d));
    if (!datasets.length) throw new UserError(`--exclude ${ex.join(',')} leaves no dataset with '${label}' pairs (the run has ${all.join(', ')}); leave at least one out of the list`);
    const means = labelMeans(cells, label, datasets);
    const units = ps.map((p) => intersectionUnits(means, p, opts));
    rows.push({
      name: ex.length ? `all but ${ex.join(', ')}` : 'all datasets', datasets, excluded: [...ex],
      sizes: units.map((u) => u.length), shares: units.map((u, k) => (100 * u.length) / topCount(ps[k], N)), units,
    });
  }
  return rows;
}

/** Fig. 3 (right): per dataset, |R ∩ N| / |R| in percent at each p, R and N its relevance and non-relevance sets. */
export function relNonrelPerDataset(cells: readonly Cell[], ps: readonly number[], opts: RankOptions = {}): { dataset: string; values: number[] }[] {
  const both = datasetsWith(cells, 'rel').filter((d) => cells.some((c) => c.dataset === d && c.label === 'nonrel'));
  return both.map((d) => {
    const [r] = labelMeans(cells, 'rel', [d]), [n] = labelMeans(cells, 'nonrel', [d]);
    return { dataset: d, values: ps.map((p) => { const R = topUnits(r, p, opts); return R.length ? (100 * sharedCount(R, topUnits(n, p, opts))) / R.length : NaN; }) };
  });
}

// ---------------------------------------------------------------- top neurons

export interface TopNeuron {
  unit: number;
  name: string;
  /** the fused score it was ranked by (mean of the per-dataset means of `label`) */
  score: number;
  /** mean NIG in each cell, in `cells` order */
  perCell: number[];
  /** the fused score split over SEGMENTS ([CLS], query, first [SEP], passage, last [SEP]); sums to `score` */
  segments: number[] | null;
}

/** The `n` top units of the fusion of every dataset's `label` cells, with their means per cell and per segment. */
export function topNeurons(cells: readonly Cell[], label: Label, n: number, opts: RankOptions = {}): { cells: string[]; rows: TopNeuron[] } {
  const ds = datasetsWith(cells, label);
  if (!ds.length) throw new UserError(`no '${label}' cells to rank neurons by; aggregate ${label === 'rel' ? 'relevant' : 'non-relevant'} pairs`);
  const dff = cells[0].dff;
  const fused = fuseMeans(labelMeans(cells, label, ds));
  const segs = ds.every((d) => cells.find((c) => c.dataset === d && c.label === label)!.segments)
    ? SEGMENTS.map((s) => fuseMeans(labelMeans(cells, label, ds, s))) : null;
  const k = Math.min(n, fused.length);
  const order = [...topK(fused, k, opts)];
  order.sort((a, b) => (opts.absolute ? Math.abs(fused[b]) - Math.abs(fused[a]) : fused[b] - fused[a]) || a - b);
  const means = cells.map((c) => c.sum.map((x) => x / c.count));
  return {
    cells: cells.map((c) => `${c.dataset}/${c.label}`),
    rows: order.slice(0, k).map((u) => ({ unit: u, name: unitName(u, dff), score: fused[u], perCell: means.map((m) => m[u]), segments: segs ? segs.map((s) => s[u]) : null })),
  };
}

// ---------------------------------------------------------------- known answers (planted models)

/** The known role of units in a planted model (flat indices). */
export interface KnownRoles {
  relevance: readonly number[];
  ood?: readonly number[];
  nonrel?: readonly number[];
  dead?: readonly number[];
}

export interface KnownAnswerCheck {
  role: 'relevance' | 'shared' | 'ood' | 'nonrel' | 'dead';
  /** the report section the check belongs beside */
  section: string;
  p: number;
  total: number;
  found: number;
  passed: boolean;
  /** what "found" means, in one line */
  rule: string;
  units: string[];
  missing: string[];
}

/**
 * Checks each role of a planted model at cut-off p, on oriented cells (`orientCells`):
 * - relevance: in the top p% of the fusion of every dataset's relevant cells (the demo's headline);
 * - shared: in the intersection of the per-dataset relevance sets of every dataset (Fig. 3);
 * - ood: OOD neurons, in the out-of-domain fusion's set but not the in-domain fusion's (needs both groups);
 * - nonrel: in the top p% of the fusion of the non-relevant cells and not in the relevance fusion's;
 * - dead: mean NIG exactly 0 in every cell and in no top-p% set of either label.
 */
export function knownAnswerChecks(cells: readonly Cell[], groups: DatasetGroups, roles: KnownRoles, p: number): KnownAnswerCheck[] {
  const dff = cells[0].dff;
  const names = (us: Iterable<number>) => [...us].map((u) => unitName(u, dff));
  const check = (role: KnownAnswerCheck['role'], section: string, rule: string, units: readonly number[], inSet: (u: number) => boolean): KnownAnswerCheck => {
    const hit = units.filter(inSet);
    return { role, section, p, total: units.length, found: hit.length, passed: hit.length === units.length, rule, units: names(units), missing: names(units.filter((u) => !inSet(u))) };
  };
  const setOf = (a: Uint32Array) => new Set(a);
  const rel = datasetsWith(cells, 'rel'), non = datasetsWith(cells, 'nonrel');
  const relFusion = setOf(topUnits(fuseMeans(labelMeans(cells, 'rel', rel)), p));
  const out = [
    check('relevance', 'top-neurons', `in the top ${p}% of the fusion of all datasets (relevant pairs)`, roles.relevance, (u) => relFusion.has(u)),
    check('shared', 'fig3', `in the top ${p}% of every dataset (intersection of all ${rel.length})`, roles.relevance, (u) => setOf(intersectionUnits(labelMeans(cells, 'rel', rel), p)).has(u)),
  ];
  if (roles.ood?.length) {
    const ood = groupDatasets(groups, 'out-of-domain').length && groupDatasets(groups, 'in-domain').length ? setOf(oodNeurons(cells, groups, 'rel', p).units) : new Set<number>();
    out.push(check('ood', 'ood', `OOD neurons at ${p}%: in the out-of-domain fusion's set, not the in-domain fusion's`, roles.ood, (u) => ood.has(u)));
  }
  const nonFusion = non.length ? setOf(topUnits(fuseMeans(labelMeans(cells, 'nonrel', non)), p)) : new Set<number>();
  if (roles.nonrel?.length) {
    out.push(check('nonrel', 'label-overlaps', `in the top ${p}% of the non-relevant fusion (towards "non-relevant"), not in the relevant fusion's`, roles.nonrel, (u) => nonFusion.has(u) && !relFusion.has(u)));
  }
  if (roles.dead?.length) {
    out.push(check('dead', 'top-neurons', `mean NIG exactly 0 in every cell and in neither fusion's top ${p}%`, roles.dead,
      (u) => cells.every((c) => c.sum[u] === 0) && !relFusion.has(u) && !nonFusion.has(u)));
  }
  return out;
}

