/**
 * Assembles the report's input from a dataset run (cells, completeness deltas and gaps, manifest) and an optional
 * pruning table. The analyses read every cell towards its own label (src/analysis/figures.ts `orientCells`), so
 * "non-relevance neurons" are the units that push non-relevant pairs towards "non-relevant".
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDir } from '../run/run-dir.ts';
import type { CompletenessInput, HeadsInput, ReportInput, StabilityInput } from '../report/report.ts';
import type { PruningTable } from '../analysis/pruning.ts';
import { bootstrapStability, buildSchemes, fuseMeans, labelMeans, type Cell, type Scheme } from '../analysis/schemes.ts';
import { layerDistribution, STANDARD_PERCENTS } from '../analysis/rankings.ts';
import { overlapMatrices, relVsNonrel, oodNeurons } from '../analysis/overlaps.ts';
import { datasetsWith, intersectionSummary, orientCells, relNonrelPerDataset, schemePairCurves, targetLabel, topNeurons, type KnownAnswerCheck } from '../analysis/figures.ts';

/** The cut-offs of the curves (Fig. 2, Fig. 3), in percent. */
/** The top p% of units per scheme a report shows, unless told. */
export const DEFAULT_REPORT_P = 1;

export const FIGURE_PERCENTS: readonly number[] = [0.1, 0.5, 1, 2, 5, 10, 20];

export interface ReportOptions {
  /** the cut-off of the per-scheme panels, the top-neuron list and the checks (default 1) */
  p?: number;
  title?: string;
  notes?: string[];
  /** Fig. 3: intersections over all datasets but these (each list is one more row) */
  exclude?: string[][];
  /** known-answer checks (planted models) and the headline */
  knownAnswers?: { headline?: string; checks: KnownAnswerCheck[] };
  /** top neurons listed (default 12) */
  topN?: number;
  /** the head-pruning table (`prune --units heads`: pruning-heads.json), shown in the Heads section */
  pruningHeads?: PruningTable | null;
}

/** Queries with selected pairs, from the run's dataset manifest (undefined when it is missing). */
function queriesOf(dir: string, name: string): number | undefined {
  const f = join(dir, 'datasets', `${name}.json`);
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, 'utf8')).counts?.[name]?.queries;
}

export function reportInput(run: RunDir, pruning: PruningTable | null, opts: ReportOptions = {}): ReportInput {
  const { manifest: m, groups } = run;
  const cells = orientCells(run.cells, m.options.nig.target);
  const { layers, intermediate: dff } = m.model.config;
  const p = opts.p ?? DEFAULT_REPORT_P;
  const hasOod = groups.outOfDomain.length > 0 && groups.inDomain.length > 0;
  const schemes: Scheme[] = buildSchemes(cells, p, { groups, kinds: ['dataset', 'fusion'] });
  const count = (dataset: string, label: string) => cells.find((c) => c.dataset === dataset && c.label === label)?.count ?? 0;
  const labels = [...new Set(cells.map((c) => c.label))];
  return {
    title: opts.title ?? `Which neurons matter: ${m.model.dir}`,
    generatedAt: new Date().toISOString(),
    model: {
      name: m.model.dir, family: m.model.family ?? m.model.config.family ?? 'bert', layers, dff, hidden: m.model.config.hidden, numLabels: m.model.config.numLabels,
      target: m.options.nig.target, units: m.options.units === 'ffn-post' ? 'post-activation' : 'pre-activation',
      steps: m.options.nig.steps, rule: m.options.nig.rule, baseline: m.options.nig.baseline,
    },
    datasets: m.datasets.map((d) => ({ name: d.name, domain: d.group, relevanceLevel: d.relThreshold, queries: queriesOf(run.dir, d.name), rel: count(d.name, 'rel'), nonrel: count(d.name, 'nonrel') })),
    layerDistributions: [
      ...schemes.map((s) => ({ scheme: s.name, p: s.p, counts: layerDistribution(s.units, dff, layers) })),
      ...STANDARD_PERCENTS.filter((q) => q !== p).flatMap((q) => buildSchemes(cells, q, { groups, kinds: ['fusion'] }).filter((s) => s.name.startsWith('fusion/all/')))
        .map((s) => ({ scheme: s.name, p: s.p, counts: layerDistribution(s.units, dff, layers) })),
    ],
    overlaps: overlapMatrices(cells, { groups, kinds: ['dataset', 'fusion'] }, STANDARD_PERCENTS),
    labelOverlaps: labels.length === 2 ? relVsNonrel(STANDARD_PERCENTS.flatMap((q) => buildSchemes(cells, q, { groups, kinds: ['fusion'] }))) : [],
    ood: hasOod ? labels.flatMap((label) => STANDARD_PERCENTS.map((q) => {
      const o = oodNeurons(cells, groups, label, q);
      return { label, p: q, units: o.units, perLayer: o.perLayer, outOfDomainSize: o.outOfDomainSize, inDomainSize: o.inDomainSize };
    })) : [],
    stability: stability(run, p),
    pruning: pruning ?? undefined,
    completeness: completeness(run),
    fig2: { ps: FIGURE_PERCENTS, panels: labels.map((label) => ({ label, series: schemePairCurves(cells, label, FIGURE_PERCENTS) })) },
    fig3: {
      ps: FIGURE_PERCENTS,
      p,
      panels: labels.map((label) => ({ label, rows: intersectionSummary(cells, label, FIGURE_PERCENTS, opts.exclude ?? []) })),
      relVsNonrel: relNonrelPerDataset(cells, FIGURE_PERCENTS),
    },
    topNeurons: { label: 'rel', p, ...topNeurons(run.cells, 'rel', opts.topN ?? 12) },
    knownAnswers: opts.knownAnswers,
    steps: pairSteps(run),
    heads: headsInput(run, opts.pruningHeads ?? null),
    notes: [
      `NIG of ${m.options.units} units, m = ${m.options.nig.steps} steps (${m.options.nig.rule ?? 'right'} rule), ${m.pairs.total} pairs; model ${m.model.hash}.`,
      ...(labels.length === 2 ? [`The run attributes target '${m.options.nig.target ?? 'relevant'}' for every pair; the analyses read the ${targetLabel(m.options.nig.target) === 'rel' ? 'non-relevant' : 'relevant'} cells with the sign turned (NIG towards their own class: for 2 labels softmax[0] = 1 − softmax[1]), so non-relevance neurons push non-relevant pairs towards "non-relevant". Pruning rows of */nonrel schemes, if any, rank the run's target as it is.`] : []),
      ...(opts.notes ?? []),
    ],
  };
}

/**
 * The Heads section: layer × head maps of the mean over the relevant pairs — the fusion of every dataset (the mean
 * of the per-dataset means) first, then each dataset's — of each method the run aggregated: head conductance, and
 * (runs since the gate was aggregated: `gateCells`) the head-gate gradient ∂F/∂ξ at α = 1. The two fused maps come
 * first, side by side; the report gives Spearman's ρ between the methods and between the maps of one method.
 * Undefined for a run without head cells.
 */
function headsInput(run: RunDir, pruning: PruningTable | null): HeadsInput | undefined {
  if (!run.headCells?.length) return undefined;
  const target = run.manifest.options.nig.target;
  const cells = orientCells(run.headCells, target);
  const datasets = datasetsWith(cells, 'rel');
  if (!datasets.length) return undefined;
  const { layers, dff: heads } = cells[0];
  const of = (method: string, cs: Cell[]) => {
    const means = labelMeans(cs, 'rel', datasets);
    return { fusion: { name: `${method}, fusion of all datasets (relevant pairs)`, values: fuseMeans(means), method }, each: datasets.length > 1 ? datasets.map((d, i) => ({ name: `${method}, ${d} (relevant pairs)`, values: means[i], method })) : [] };
  };
  const cond = of('head conductance', cells);
  const gateCells = run.gateCells?.length ? orientCells(run.gateCells, target) : null;
  const gate = gateCells && datasets.every((d) => gateCells.some((c) => c.dataset === d && c.label === 'rel')) ? of('head-gate gradient', gateCells) : null;
  const m = run.manifest.options.nig.steps;
  return {
    layers, heads,
    maps: gate ? [cond.fusion, gate.fusion, ...cond.each, ...gate.each] : [cond.fusion, ...cond.each],
    note: gate
      ? `Mean per (layer, head) over the relevant pairs of two methods side by side: head conductance (m = ${m}) and the head-gate gradient ∂F/∂ξ_h at α = 1 (the gradient of the output with respect to a gate scaling the head's context). Fusion of all datasets first, then each dataset's; ρ between the methods ranks the heads of their fused maps, ρ within a method compares its maps.`
      : `Mean head conductance per (layer, head) over the relevant pairs (m = ${m}). This run aggregates the head conductance only (it was attributed before dataset runs aggregated the head-gate gradient; the gate is written per pair by 'attribute --pairs … --units …,heads'), so every map here is conductance: the fusion of all datasets, then each dataset's, and ρ is their agreement.`,
    pruning: pruning ?? undefined,
  };
}

/**
 * Completeness of every full cut: the word embeddings (IG) and, when the run kept them (`cuts`), the output hidden
 * states of the embeddings and of each layer, each with the gap F(x) − F(x′) per pair for the relative error.
 */
function completeness(run: RunDir): CompletenessInput[] {
  const L = run.manifest.model.config.layers;
  const n = run.deltas.length, w = L + 2;
  const done = [...Array(n).keys()].filter((i) => Number.isFinite(run.deltas[i]));
  const cuts = run.cuts?.length === n * w ? run.cuts : undefined;
  const gaps = cuts ? done.map((i) => cuts[i * w]) : undefined;
  const out: CompletenessInput[] = [{ cut: 'word embeddings (IG)', deltas: done.map((i) => run.deltas[i]), ...(gaps ? { gaps } : {}) }];
  if (cuts) {
    for (let h = 0; h <= L; h++) {
      out.push({ cut: h === 0 ? 'embedding output (hidden state 0)' : `layer ${h - 1} output (hidden state ${h})`, deltas: done.map((i) => cuts[i * w + 1 + h]), gaps: gaps! });
    }
  }
  return out;
}

/** The m each pair used and its estimated error, for adaptive NIG (--tol, richardson): the run's 'adaptive' tensor (pairs, 2); absent for fixed-m runs. */
function pairSteps(run: RunDir): ReportInput['steps'] {
  const ad = run.adaptive;
  if (!ad?.length) return undefined;
  const rows = [...Array(ad.length / 2).keys()].filter((i) => Number.isFinite(ad[2 * i]));
  return { perPair: rows.map((i) => ad[2 * i]), estimates: rows.map((i) => ad[2 * i + 1]) };
}

/**
 * Bootstrap stability (100 resamples of the pairs) of the relevance sets, when the run kept per-pair vectors
 * (`--keep-pairs`): per dataset, and for the fusion of all datasets (resampling the pool; each resample's
 * fusion is the mean of its per-dataset means).
 */
function stability(run: RunDir, p: number): StabilityInput[] {
  if (!run.pairs) return [];
  const { vectors, units, rows } = run.pairs;
  const row = (i: number) => vectors.subarray(i * units, (i + 1) * units);
  const rel = rows.map((r, i) => ({ ...r, i })).filter((r) => r.label === 'rel' && Number.isFinite(vectors[r.i * units]));
  const datasets = [...new Set(rel.map((r) => r.dataset))];
  const out: StabilityInput[] = [];
  for (const d of datasets) {
    const idx = rel.filter((r) => r.dataset === d).map((r) => r.i);
    const st = bootstrapStability(idx.map(row), p, { resamples: 100, seed: 1 });
    out.push({ scheme: `dataset/${d}/rel`, p, resamples: st.resamples, stability: st.stability });
  }
  if (datasets.length > 1) {
    const sampler = {
      count: rel.length,
      mean(indices: Uint32Array): Float64Array {
        const sums = new Map<string, { s: Float64Array; n: number }>();
        for (const j of indices) {
          const r = rel[j];
          let e = sums.get(r.dataset);
          if (!e) sums.set(r.dataset, (e = { s: new Float64Array(units), n: 0 }));
          const v = row(r.i);
          for (let u = 0; u < units; u++) e.s[u] += v[u];
          e.n++;
        }
        const fused = new Float64Array(units);
        for (const { s, n } of sums.values()) for (let u = 0; u < units; u++) fused[u] += s[u] / n / sums.size;
        return fused;
      },
    };
    const st = bootstrapStability(sampler, p, { resamples: 100, seed: 1 });
    out.push({ scheme: 'fusion/all/rel', p, resamples: st.resamples, stability: st.stability });
  }
  return out;
}
