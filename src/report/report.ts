/**
 * The report's data: `ReportInput` is what an analysis run hands over (all computed by src/analysis), and
 * `buildReport` checks it, summarises the raw parts (completeness deltas, OOD unit lists, pruning curves) and
 * returns `ReportJson`, a plain JSON-ready object (no Maps, no typed arrays; missing numbers are null). The
 * HTML (html.ts) and Markdown (markdown.ts) renderers read only `ReportJson`, so report.json holds everything
 * the pages show. No I/O here; write.ts is the thin file writer.
 */
import type { LabelOverlap, OverlapMatrix } from '../analysis/overlaps.ts';
import type { PruningTable } from '../analysis/pruning.ts';
import type { IntersectionRow, KnownAnswerCheck, TopNeuron } from '../analysis/figures.ts';
import { UserError } from '../util/errors.ts';
import { spearman } from '../analysis/stats.ts';

export interface ModelInfo {
  /** checkpoint name or path */
  name: string;
  /** the model family: bert, roberta (XLM-R), electra, distilbert (src/model/config.ts) */
  family?: string;
  layers: number;
  dff: number;
  hidden?: number;
  numLabels?: number;
  /** relevance output attributed, e.g. 'relevant' (softmax[1]) or 'logit' */
  target?: string;
  /** 'pre-activation' (default) or 'post-activation' */
  units?: string;
  /** integration steps m */
  steps?: number;
  /** 'right' | 'left' | 'trapezoid' */
  rule?: string;
  baseline?: string;
}

export interface DatasetInfo {
  name: string;
  domain: 'in-domain' | 'out-of-domain' | 'other';
  /** minimum grade counted relevant */
  relevanceLevel: number;
  queries?: number;
  /** pairs aggregated in the 'rel' and 'nonrel' cells */
  rel: number;
  nonrel: number;
}

export interface LayerDistributionInput {
  /** scheme name, e.g. `fusion/all/rel` */
  scheme: string;
  p: number;
  /** (layers) top units per layer */
  counts: readonly number[];
}

/** Per-pair completeness errors of one full cut: Σ attributions − (F(x) − F(x')). */
export interface CompletenessInput {
  /** e.g. 'word embeddings', 'hidden state 12' */
  cut: string;
  deltas: readonly number[];
  /** optional F(x) − F(x') per pair, for the relative error */
  gaps?: readonly number[];
}

export interface OodInput {
  label: string;
  p: number;
  units: ArrayLike<number>;
  perLayer: readonly number[];
  outOfDomainSize: number;
  inDomainSize: number;
}

export interface StabilityInput {
  scheme: string;
  p: number;
  resamples: number;
  /** per unit of the scheme's set: fraction of resamples keeping it */
  stability: ArrayLike<number>;
}

/** Attention heads (runs attributed with --units …,heads): layer × head maps, and the head-pruning table. */
export interface HeadsInput {
  layers: number;
  heads: number;
  /**
   * one map per method and cell, (layers · heads) layer-major; the first is the one the top heads come from.
   * `method` (default '') groups them: ρ is given between the maps of one method, and between the first maps of
   * every two methods (`methods` in the JSON: e.g. head conductance against the head-gate gradient).
   */
  maps: readonly { name: string; values: ArrayLike<number>; method?: string }[];
  /** what the maps are (e.g. that the dataset run aggregates conductance only) */
  note?: string;
  /** heads listed by name (default 8, at most layers · heads) */
  topN?: number;
  pruning?: PruningTable;
}

export interface ReportInput {
  title?: string;
  /** supplied by the caller (kept out of the builder so that equal inputs give equal reports) */
  generatedAt?: string;
  model: ModelInfo;
  datasets: readonly DatasetInfo[];
  layerDistributions: readonly LayerDistributionInput[];
  overlaps: readonly OverlapMatrix[];
  labelOverlaps?: readonly LabelOverlap[];
  ood?: readonly OodInput[];
  stability?: readonly StabilityInput[];
  pruning?: PruningTable;
  completeness?: readonly CompletenessInput[];
  /** Fig. 2: overlap of pairs of per-dataset schemes at each p, per label */
  fig2?: { ps: readonly number[]; panels: readonly { label: string; series: readonly { name: string; values: readonly number[] }[] }[] };
  /** Fig. 3: intersections over all datasets and with exclusions, per label; rel vs nonrel per dataset */
  fig3?: { ps: readonly number[]; /** the cut-off whose intersections are listed by name */ p?: number; panels: readonly { label: string; rows: readonly IntersectionRow[] }[]; relVsNonrel: readonly { dataset: string; values: readonly number[] }[] };
  /** the top neurons of a fusion, named, with their mean per cell and per segment */
  topNeurons?: { label: string; p?: number; cells: readonly string[]; rows: readonly TopNeuron[] };
  /** known-answer checks of a planted model, and a one-line headline */
  knownAnswers?: { headline?: string; checks: readonly KnownAnswerCheck[] };
  /**
   * Hook for adaptive NIG (--tol): the m each pair used and its estimated relative error. Filled by
   * src/pipeline/report-input.ts once dataset runs record them; absent for fixed-m runs.
   */
  steps?: { perPair: readonly number[]; estimates?: readonly number[] };
  heads?: HeadsInput;
  notes?: readonly string[];
}

export interface CompletenessSummary {
  cut: string;
  pairs: number;
  meanAbs: number | null;
  maxAbs: number | null;
  /** mean of |delta| / |gap| over pairs with a non-zero gap; null without gaps */
  meanRelAbs: number | null;
  /** mean |F(x) − F(x′)|; null without gaps */
  meanAbsGap: number | null;
}

export interface PruningCurve {
  dataset: string;
  measure: 'ndcg10' | 'mrr10';
  baseline: number | null;
  series: { name: string; points: { p: number; value: number }[] }[];
  /** random sets per p (of the row with the most units at that p, i.e. the full top-p% size) */
  random: { p: number; mean: number; std: number; n: number }[];
}

export interface ReportJson {
  format: 'ir-neurons-report';
  version: 2;
  title: string;
  generatedAt: string | null;
  model: ModelInfo & { units: string; totalUnits: number };
  datasets: DatasetInfo[];
  completeness: CompletenessSummary[];
  layerDistributions: { scheme: string; p: number; counts: number[]; total: number }[];
  overlaps: { p: number; label: string | null; names: string[]; sizes: number[]; values: (number | null)[][] }[];
  labelOverlaps: { scheme: string; p: number; rel: number; nonrel: number; shared: number; relInNonrel: number | null; nonrelInRel: number | null }[];
  ood: { label: string; p: number; count: number; units: number[]; perLayer: number[]; outOfDomainSize: number; inDomainSize: number }[];
  stability: { scheme: string; p: number; resamples: number; units: number; mean: number | null; min: number | null; atLeast90: number }[];
  pruning: PruningTable | null;
  pruningCurves: PruningCurve[];
  fig2: { ps: number[]; panels: { label: string; series: { name: string; values: (number | null)[] }[] }[] } | null;
  fig3: {
    ps: number[];
    p: number | null;
    panels: { label: string; rows: { name: string; datasets: string[]; excluded: string[]; sizes: number[]; shares: (number | null)[]; units: string[][] }[] }[];
    relVsNonrel: { dataset: string; values: (number | null)[] }[];
  } | null;
  topNeurons: { label: string; p: number | null; cells: string[]; segments: string[]; rows: { name: string; unit: number; role: string | null; score: number | null; perCell: (number | null)[]; segments: (number | null)[] | null }[] } | null;
  knownAnswers: { headline: string | null; checks: KnownAnswerCheck[] } | null;
  steps: { pairs: number; min: number; median: number; max: number; meanEstimate: number | null } | null;
  heads: {
    layers: number;
    heads: number;
    /** each map as rows of layers, columns of heads */
    maps: { name: string; values: (number | null)[][] }[];
    /** Spearman's ρ over the L·H heads between every two maps of one method (null: a constant map) */
    agreement: { a: string; b: string; spearman: number | null }[];
    /** Spearman's ρ over the L·H heads between the first maps of every two methods (empty with one method) */
    methods: { a: string; b: string; spearman: number | null }[];
    /** the highest heads of the first map, named L<layer>.H<head> */
    top: { name: string; layer: number; head: number; score: number | null }[];
    note: string | null;
    pruning: PruningTable | null;
    pruningCurves: PruningCurve[];
  } | null;
  notes: string[];
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

function summariseCompleteness(c: CompletenessInput): CompletenessSummary {
  if (c.gaps && c.gaps.length !== c.deltas.length) {
    throw new UserError(`completeness '${c.cut}': ${c.deltas.length} deltas but ${c.gaps.length} gaps; give one gap per pair`);
  }
  const abs = c.deltas.map(Math.abs);
  let relSum = 0, relN = 0;
  c.deltas.forEach((d, i) => {
    const g = c.gaps?.[i];
    if (g !== undefined && g !== 0) { relSum += Math.abs(d / g); relN++; }
  });
  return {
    cut: c.cut, pairs: abs.length,
    meanAbs: abs.length ? num(abs.reduce((a, b) => a + b, 0) / abs.length) : null,
    maxAbs: abs.length ? num(abs.reduce((a, b) => Math.max(a, b), 0)) : null,
    meanRelAbs: relN ? num(relSum / relN) : null,
    meanAbsGap: c.gaps?.length ? num(c.gaps.reduce((a, g) => a + Math.abs(g), 0) / c.gaps.length) : null,
  };
}

function curves(table: PruningTable): PruningCurve[] {
  const out: PruningCurve[] = [];
  for (const base of table.baselines) {
    const rows = table.rows.filter((r) => r.dataset === base.dataset);
    for (const measure of ['ndcg10', 'mrr10'] as const) {
      const names = [...new Set(rows.map((r) => r.scheme))];
      const series = names.map((name) => ({
        name,
        points: rows.filter((r) => r.scheme === name).map((r) => ({ p: r.p, value: r[measure].value })).sort((a, b) => a.p - b.p),
      }));
      const random: PruningCurve['random'] = [];
      for (const p of [...new Set(rows.map((r) => r.p))].sort((a, b) => a - b)) {
        const full = rows.filter((r) => r.p === p).reduce((a, b) => (b.units > a.units ? b : a));
        const s = full[measure].random;
        random.push({ p, mean: s.mean, std: s.std, n: s.n });
      }
      out.push({ dataset: base.dataset, measure, baseline: num(base[measure]), series, random });
    }
  }
  return out;
}

function stepsSummary(s: NonNullable<ReportInput['steps']>): NonNullable<ReportJson['steps']> {
  const m = [...s.perPair].sort((a, b) => a - b);
  const e = (s.estimates ?? []).filter(Number.isFinite);
  return { pairs: m.length, min: m[0], median: m[Math.floor(m.length / 2)], max: m[m.length - 1], meanEstimate: e.length ? e.reduce((a, b) => a + b, 0) / e.length : null };
}

/** Head `u` (layer-major) of a model with `heads` heads per layer: L<layer>.H<head>. */
export function headName(u: number, heads: number): string {
  return `L${Math.floor(u / heads)}.H${u % heads}`;
}

function headsSummary(h: HeadsInput): NonNullable<ReportJson['heads']> {
  const n = h.layers * h.heads;
  if (!(Number.isInteger(h.layers) && h.layers > 0 && Number.isInteger(h.heads) && h.heads > 0)) throw new UserError(`report: heads are ${h.layers} layers x ${h.heads} heads; give positive integers`);
  if (!h.maps.length) throw new UserError('report: the heads section has no map; give at least one layer x head map');
  for (const m of h.maps) if (m.values.length !== n) throw new UserError(`report: head map '${m.name}' has ${m.values.length} values, the model ${h.layers} layers x ${h.heads} heads = ${n}; build it from the run's head cells`);
  const agreement: NonNullable<ReportJson['heads']>['agreement'] = [];
  const rho = (a: HeadsInput['maps'][number], b: HeadsInput['maps'][number]) => ({ a: a.name, b: b.name, spearman: num(spearman(a.values, b.values)) });
  const method = (m: HeadsInput['maps'][number]) => m.method ?? '';
  const groups = [...new Set(h.maps.map(method))].map((k) => h.maps.filter((m) => method(m) === k));
  for (const ms of groups) for (let i = 0; i < ms.length; i++) for (let j = i + 1; j < ms.length; j++) agreement.push(rho(ms[i], ms[j]));
  const firsts = groups.map((ms) => ms[0]);
  const methods: NonNullable<ReportJson['heads']>['methods'] = [];
  for (let i = 0; i < firsts.length; i++) for (let j = i + 1; j < firsts.length; j++) methods.push(rho(firsts[i], firsts[j]));
  const first = Array.from(h.maps[0].values);
  const order = [...first.keys()].sort((a, b) => (first[b] - first[a]) || a - b);
  return {
    layers: h.layers, heads: h.heads,
    maps: h.maps.map((m) => ({ name: m.name, values: Array.from({ length: h.layers }, (_, l) => Array.from(m.values).slice(l * h.heads, (l + 1) * h.heads).map(num)) })),
    agreement,
    methods,
    top: order.slice(0, Math.min(n, h.topN ?? 8)).map((u) => ({ name: headName(u, h.heads), layer: Math.floor(u / h.heads), head: u % h.heads, score: num(first[u]) })),
    note: h.note ?? null,
    pruning: h.pruning ? structuredClone(h.pruning) : null,
    pruningCurves: h.pruning ? curves(h.pruning) : [],
  };
}

/** Checks the input and returns the report data (see the header). */
export function buildReport(input: ReportInput): ReportJson {
  const { model } = input;
  if (!(Number.isInteger(model.layers) && model.layers > 0 && Number.isInteger(model.dff) && model.dff > 0)) {
    throw new UserError(`report: model '${model.name}' has ${model.layers} layers x ${model.dff} neurons; give positive integers`);
  }
  const names = new Set<string>();
  for (const d of input.datasets) {
    if (names.has(d.name)) throw new UserError(`report: dataset '${d.name}' is listed twice; list each dataset once`);
    names.add(d.name);
  }
  for (const l of input.layerDistributions) {
    if (l.counts.length !== model.layers) {
      throw new UserError(`report: layer distribution of '${l.scheme}' at ${l.p}% has ${l.counts.length} layers, the model ${model.layers}; compute it with the model's layer count`);
    }
  }
  for (const m of input.overlaps) {
    if (m.values.length !== m.names.length || m.values.some((r) => r.length !== m.names.length) || m.sizes.length !== m.names.length) {
      throw new UserError(`report: overlap matrix at ${m.p}% is not ${m.names.length} x ${m.names.length} with ${m.names.length} sizes; build it with overlapMatrix`);
    }
  }
  const dffName = (u: number) => `L${Math.floor(u / model.dff)}.${u % model.dff}`;
  const roleOf = new Map<string, string>();
  for (const c of input.knownAnswers?.checks ?? []) if (c.role !== 'shared') for (const u of c.units) roleOf.set(u, c.role);
  return {
    format: 'ir-neurons-report',
    version: 2,
    title: input.title ?? `Which neurons matter: ${model.name}`,
    generatedAt: input.generatedAt ?? null,
    model: { ...model, units: model.units ?? 'pre-activation', totalUnits: model.layers * model.dff },
    datasets: input.datasets.map((d) => ({ ...d })),
    completeness: (input.completeness ?? []).map(summariseCompleteness),
    layerDistributions: input.layerDistributions.map((l) => ({ scheme: l.scheme, p: l.p, counts: [...l.counts], total: l.counts.reduce((a, b) => a + b, 0) })),
    overlaps: input.overlaps.map((m) => ({ p: m.p, label: m.label ?? null, names: [...m.names], sizes: [...m.sizes], values: m.values.map((r) => r.map(num)) })),
    labelOverlaps: (input.labelOverlaps ?? []).map((o) => ({ ...o, relInNonrel: num(o.relInNonrel), nonrelInRel: num(o.nonrelInRel) })),
    ood: (input.ood ?? []).map((o) => ({
      label: o.label, p: o.p, count: o.units.length, units: Array.from(o.units), perLayer: [...o.perLayer],
      outOfDomainSize: o.outOfDomainSize, inDomainSize: o.inDomainSize,
    })),
    stability: (input.stability ?? []).map((s) => {
      const v = Array.from(s.stability);
      return {
        scheme: s.scheme, p: s.p, resamples: s.resamples, units: v.length,
        mean: v.length ? v.reduce((a, b) => a + b, 0) / v.length : null, min: v.length ? v.reduce((a, b) => Math.min(a, b), Infinity) : null,
        atLeast90: v.filter((x) => x >= 0.9).length,
      };
    }),
    pruning: input.pruning ? structuredClone(input.pruning) : null,
    pruningCurves: input.pruning ? curves(input.pruning) : [],
    fig2: input.fig2 ? { ps: [...input.fig2.ps], panels: input.fig2.panels.map((pn) => ({ label: pn.label, series: pn.series.map((s) => ({ name: s.name, values: s.values.map(num) })) })) } : null,
    fig3: input.fig3 ? {
      ps: [...input.fig3.ps],
      p: input.fig3.p ?? null,
      panels: input.fig3.panels.map((pn) => ({
        label: pn.label,
        rows: pn.rows.map((r) => ({ name: r.name, datasets: [...r.datasets], excluded: [...r.excluded], sizes: [...r.sizes], shares: r.shares.map(num), units: r.units.map((u) => Array.from(u, dffName)) })),
      })),
      relVsNonrel: input.fig3.relVsNonrel.map((r) => ({ dataset: r.dataset, values: r.values.map(num) })),
    } : null,
    topNeurons: input.topNeurons ? {
      label: input.topNeurons.label, p: input.topNeurons.p ?? null, cells: [...input.topNeurons.cells], segments: ['[CLS]', 'query', '[SEP] 1', 'passage', '[SEP] 2'],
      rows: input.topNeurons.rows.map((r) => ({ name: r.name, unit: r.unit, role: roleOf.get(r.name) ?? null, score: num(r.score), perCell: r.perCell.map(num), segments: r.segments ? r.segments.map(num) : null })),
    } : null,
    knownAnswers: input.knownAnswers ? { headline: input.knownAnswers.headline ?? null, checks: input.knownAnswers.checks.map((c) => ({ ...c, units: [...c.units], missing: [...c.missing] })) } : null,
    steps: input.steps?.perPair.length ? stepsSummary(input.steps) : null,
    heads: input.heads ? headsSummary(input.heads) : null,
    notes: [...(input.notes ?? [])],
  };
}
