/**
 * Prune masks made on the GPU from the aggregation cells that the attribution left there: cell means
 * (shaders/analysis/cell_mean.wgsl), fusion of per-dataset means, top-k selection and the mask write
 * (shaders/analysis/select*.wgsl), copied into the model's `mask.<l>` views — no host round trip between
 * attribution, ranking and pruning. 'dataset' and 'fusion' schemes (the paper's) take this path; the other
 * kinds (intersection, rrf, combsum) are built on the host by src/analysis and uploaded. `setMasks` is the one
 * place that chooses between the two.
 */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import type { BertGpu } from '../model/forward.ts';
import { CellAccumulators } from '../ig/cells.ts';
import type { RunDir } from '../run/run-dir.ts';
import type { Scheme } from '../analysis/schemes.ts';
import { topCount } from '../analysis/rankings.ts';
import { maskFromUnits } from '../analysis/pruning.ts';
import { meanScores, fuseScores } from '../analysis-gpu/scores.ts';
import { randomMask, selectTopMask, writeLayerMasks } from '../analysis-gpu/select.ts';
import { settle } from '../gpu/queue.ts';
import { ensureCompiled } from '../gpu/compile.ts';
import { analysisKernels } from '../kernels/analysis.ts';

/** What one pruning ranking masks: nothing (the unpruned model), a scheme's units, or a random unit set. */
export type MaskChoice = 'none' | Scheme | Uint32Array;

/**
 * Writes the masks of `what` into the model; the one place that decides how: 'none' clears them; with the GPU
 * accumulators (`gpu`), 'dataset' and 'fusion' schemes are selected on the GPU and random sets written there;
 * every other case is written from its unit list on the host.
 */
export async function setMasks(model: BertGpu, what: MaskChoice, gpu?: GpuMasks): Promise<void> {
  if (what === 'none') {
    model.resetMasks();
    return;
  }
  if (gpu) {
    if (what instanceof Uint32Array) return gpu.applyRandom(what);
    if (GpuMasks.selects(what)) {
      await gpu.apply(what);
      return;
    }
  }
  const { layers: L, intermediate: F } = model.cfg;
  maskFromUnits(what instanceof Uint32Array ? what : what.units, L, F).forEach((m, l) => model.setMask(l, m));
}

export class GpuMasks {
  private means = new Map<string, Promise<View>>();
  private compiled: Promise<void> | null = null;
  readonly N: number;

  constructor(private g: Gpu, private model: BertGpu, private cells: CellAccumulators, private counts: Map<string, number>, private absolute = false) {
    this.N = model.cfg.layers * model.cfg.intermediate;
  }

  /** Compiles every selection kernel in one round, before the first selection. */
  private ready(): Promise<void> {
    return (this.compiled ??= analysisKernels(this.g, this.absolute).then((ks) => ensureCompiled(this.g, ks)));
  }

  private mean(cell: string): Promise<View> {
    let m = this.means.get(cell);
    if (!m) {
      m = meanScores(this.g, this.cells, cell, this.counts.get(cell) ?? 0);
      this.means.set(cell, m);
    }
    return m;
  }

  /** The scheme kinds selected on the GPU: 'dataset' (one cell's means) and 'fusion' (mean of those). */
  static selects(s: Scheme): boolean {
    return s.kind === 'dataset' || s.kind === 'fusion';
  }

  /**
   * Selects a 'dataset' or 'fusion' scheme on the GPU and writes its mask into the model; returns the selected
   * units (read back only when `withUnits`). Other kinds: see `setMasks`.
   */
  async apply(s: Scheme, withUnits = false): Promise<{ onGpu: boolean; units?: Uint32Array }> {
    if (!GpuMasks.selects(s)) throw new Error(`GpuMasks.apply: scheme ${s.name} is of kind '${s.kind}', which is built on the host; write it with setMasks`);
    await this.ready();
    const means = await Promise.all(s.datasets.map((d) => this.mean(`${d}/${s.label}`)));
    const scores = s.kind === 'dataset' ? means[0] : await fuseScores(this.g, means);
    const sel = await selectTopMask(this.g, scores, this.N, topCount(s.p, this.N), { absolute: this.absolute });
    writeLayerMasks(this.g, this.model, sel.mask);
    const units = withUnits ? await sel.units() : undefined;
    await settle(this.g);
    sel.destroy();
    if (s.kind === 'fusion') scores.buffer.destroy();
    return { onGpu: true, units };
  }

  /** Random baseline: the host draws the units (seeded), the GPU writes the mask. */
  async applyRandom(units: Uint32Array): Promise<void> {
    await this.ready();
    const mask = await randomMask(this.g, units, this.N);
    writeLayerMasks(this.g, this.model, mask);
    await settle(this.g);
    mask.buffer.destroy();
  }
}

/** Uploads a finished run's exact accumulators (the prune command runs in a process of its own). */
export function gpuMasksFromRun(g: Gpu, model: BertGpu, run: RunDir, absolute = false): GpuMasks {
  const names = [...run.words.keys()].filter((c) => (run.words.get(c)!.count) > 0);
  const cells = new CellAccumulators(g, model.cfg.layers * model.cfg.intermediate, names);
  for (const c of names) cells.write(c, run.words.get(c)!);
  return new GpuMasks(g, model, cells, new Map(names.map((c) => [c, run.words.get(c)!.count])), absolute);
}
