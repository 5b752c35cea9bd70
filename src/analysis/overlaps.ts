/**
 * Overlaps between unit sets: overlap(A, B) = |A ∩ B| / |A| in percent (not symmetric: it reads "how much of A
 * is also in B"), matrices over schemes at the usual cut-offs, relevance vs non-relevance neurons, and OOD
 * neurons (top in the out-of-domain fusion, not in the in-domain fusion). Plain arrays only.
 */
import { UserError } from '../util/errors.ts';
import { assertUnitSet, difference, layerDistribution, sharedCount, STANDARD_PERCENTS, type RankOptions } from './rankings.ts';
import { buildSchemes, groupUnits, labelMeans, groupDatasets, type Cell, type DatasetGroups, type Label, type Scheme, type SchemeOptions } from './schemes.ts';

/** |A ∩ B| / |A| · 100 for ascending unit sets; NaN when A is empty (no share to speak of). */
export function overlap(a: Uint32Array, b: Uint32Array): number {
  return a.length === 0 ? NaN : (100 * sharedCount(a, b)) / a.length;
}

/** Overlaps of every ordered pair of named sets. JSON-ready (plain arrays; NaN written as null by JSON). */
export interface OverlapMatrix {
  p: number;
  /** label of the schemes when all share one */
  label?: Label;
  names: string[];
  /** set sizes, same order as names */
  sizes: number[];
  /** values[i][j] = overlap(set_i, set_j) in percent: the share of row i's units also in column j */
  values: number[][];
}

/** The overlap matrix of named unit sets at cut-off p. */
export function overlapMatrix(sets: readonly { name: string; units: Uint32Array }[], p: number, label?: Label): OverlapMatrix {
  for (const s of sets) assertUnitSet(s.units, `set '${s.name}'`);
  const values = sets.map((a) => sets.map((b) => overlap(a.units, b.units)));
  return { p, ...(label ? { label } : {}), names: sets.map((s) => s.name), sizes: sets.map((s) => s.units.length), values };
}

/** Overlap matrices of every scheme, one per (p, label), at the given cut-offs (default 0.1, 0.5, 1, 5, 10 %). */
export function overlapMatrices(cells: readonly Cell[], opts: SchemeOptions, ps: readonly number[] = STANDARD_PERCENTS): OverlapMatrix[] {
  const out: OverlapMatrix[] = [];
  for (const p of ps) {
    const schemes = buildSchemes(cells, p, opts);
    for (const label of [...new Set(schemes.map((s) => s.label))]) {
      out.push(overlapMatrix(schemes.filter((s) => s.label === label), p, label));
    }
  }
  return out;
}

/** Relevance vs non-relevance neurons of one scheme (same kind and group) at one cut-off. */
export interface LabelOverlap {
  /** scheme name without the label, e.g. `fusion/all` */
  scheme: string;
  p: number;
  rel: number;
  nonrel: number;
  shared: number;
  /** |R ∩ N| / |R| in percent */
  relInNonrel: number;
  /** |R ∩ N| / |N| in percent */
  nonrelInRel: number;
}

/** Pairs each 'rel' scheme with the 'nonrel' scheme of the same kind, group and p. */
export function relVsNonrel(schemes: readonly Scheme[]): LabelOverlap[] {
  const out: LabelOverlap[] = [];
  for (const r of schemes) {
    if (r.label !== 'rel') continue;
    const n = schemes.find((s) => s.label === 'nonrel' && s.kind === r.kind && s.group === r.group && s.p === r.p);
    if (!n) continue;
    out.push({
      scheme: `${r.kind}/${r.group}`, p: r.p, rel: r.units.length, nonrel: n.units.length, shared: sharedCount(r.units, n.units),
      relInNonrel: overlap(r.units, n.units), nonrelInRel: overlap(n.units, r.units),
    });
  }
  return out;
}

/** OOD units: in the out-of-domain set but not in the in-domain set (ascending). */
export function oodUnits(outOfDomain: Uint32Array, inDomain: Uint32Array): Uint32Array {
  assertUnitSet(outOfDomain, 'out-of-domain set');
  assertUnitSet(inDomain, 'in-domain set');
  return difference(outOfDomain, inDomain);
}

export interface OodNeurons {
  label: Label;
  p: number;
  /** ascending unit indices */
  units: Uint32Array;
  /** count per layer */
  perLayer: number[];
  outOfDomainSize: number;
  inDomainSize: number;
}

/** OOD neurons from the fusion sets of the out-of-domain and in-domain groups (both must be non-empty). */
export function oodNeurons(cells: readonly Cell[], groups: DatasetGroups, label: Label, p: number, opts: RankOptions = {}): OodNeurons {
  const ood = groupDatasets(groups, 'out-of-domain');
  const ind = groupDatasets(groups, 'in-domain');
  if (ood.length === 0 || ind.length === 0) throw new UserError(`OOD neurons need both in-domain and out-of-domain datasets, got ${ind.length} and ${ood.length}; name both groups`);
  const outSet = groupUnits('fusion', labelMeans(cells, label, ood), p, opts);
  const inSet = groupUnits('fusion', labelMeans(cells, label, ind), p, opts);
  const units = oodUnits(outSet, inSet);
  const { layers, dff } = cells.find((c) => c.label === label)!;
  return { label, p, units, perLayer: layerDistribution(units, dff, layers), outOfDomainSize: outSet.length, inDomainSize: inSet.length };
}
