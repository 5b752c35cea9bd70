/**
 * A dataset run in the browser, from bytes: the `--out` folder of `ir-neurons attribute --dataset`, of which the page
 * reads `manifest.json` (model shape, options, datasets) and `aggregate.safetensors` (per cell `<dataset>/<label>`:
 * `count`, `mean`, `sum`, `sumsq` as (layers, d_ff) and `seg_sum` as (5, layers, d_ff), float64; see README
 * "Output format"). Only those documented tensors are read, and each defensively: `mean` falls back to sum / count,
 * `sumsq` and `seg_sum` are optional, cells come from the manifest, else the file's metadata, else its tensor names,
 * and other tensors (accumulator words, deltas, whatever a later version adds) are ignored. An experiment or demo
 * folder (`ir-neurons experiment … --out DIR`) will do too: its run is DIR/run. The manifest's `environment` (what the
 * run ran on) is summarised in one line.
 */
import { UserError } from '../util/errors.ts';
import { readSafetensors, toFloat, type RawTensor } from '../formats/safetensors.ts';
import { readSource, type Source } from './load.ts';

export const RUN_SEGMENTS = ['[CLS]', 'query', '[SEP]', 'passage', '[SEP]'] as const;

export interface RunSources {
  manifest: Source;
  aggregate: Source;
  /** for messages: where the two files came from */
  where: string;
}

/** One (dataset, label) cell of a run: per unit u = layer * dff + neuron. */
export interface RunCell {
  name: string;
  dataset: string;
  label: string;
  count: number;
  mean: Float64Array;            // (layers * dff) mean NIG over the cell's pairs
  sd?: Float64Array;             // (layers * dff) population standard deviation, when sumsq is there
  segMean?: Float64Array;        // (5 * layers * dff) mean NIG from each segment, when seg_sum is there
}

export interface LoadedRun {
  where: string;
  layers: number;
  dff: number;
  cells: RunCell[];
  /** dataset → group ('in-domain', 'out-of-domain'), from the manifest */
  groups: Record<string, string>;
  /** a one-line summary of the options (steps, rule, target, baseline, units) */
  options: string;
  model: string;
  /** where the run ran: adapter, kernel class, package and commit, Node, OS ('' for manifests without one) */
  environment: string;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
type Json = Record<string, any>;

function cellNames(manifest: Json, meta: Json, tensors: Map<string, RawTensor>): string[] {
  if (Array.isArray(manifest.cells) && manifest.cells.every((c: unknown) => typeof c === 'string')) return manifest.cells;
  try {
    const c = JSON.parse(meta.cells ?? 'null');
    if (Array.isArray(c)) return c.filter((x) => typeof x === 'string');
  } catch { /* fall through to the tensor names */ }
  const names = new Set<string>();
  for (const k of tensors.keys()) {
    const m = /^(.+\/.+)\.(mean|sum|count)$/.exec(k);
    if (m) names.add(m[1]);
  }
  return [...names];
}

/** Parses the two files of a run; throws a UserError naming the file and what is wrong. */
export function parseRun(manifestBytes: Uint8Array, aggregateBytes: Uint8Array, where = 'the run'): LoadedRun {
  const mName = `${where}/manifest.json`, aName = `${where}/aggregate.safetensors`;
  let manifest: Json;
  try {
    manifest = JSON.parse(text(manifestBytes));
  } catch (e) {
    throw new UserError(`${mName}: not valid JSON (${(e as Error).message}); give the manifest.json of an 'attribute --dataset' run`);
  }
  if (typeof manifest !== 'object' || manifest === null) throw new UserError(`${mName}: not a JSON object; give the manifest.json of an 'attribute --dataset' run`);
  if (manifest.kind !== undefined && manifest.kind !== 'dataset-run') {
    throw new UserError(`${mName}: kind is '${manifest.kind}', not 'dataset-run'; the viewer shows 'attribute --dataset' runs (a --pairs run's attributions load as a model's results instead)`);
  }
  const { tensors, metadata: meta } = readSafetensors(aggregateBytes, aName);
  const names = cellNames(manifest, meta, tensors);
  if (!names.length) throw new UserError(`${aName}: no cells (no '<dataset>/<label>.mean' tensors); the run has no results yet — finish it (--resume) or merge its shards`);

  // layers and d_ff: the manifest's model config, else the shape of the first mean/sum tensor
  const cfg = manifest.model?.config ?? {};
  let layers = Number(cfg.layers), dff = Number(cfg.intermediate);
  const first = tensors.get(`${names[0]}.mean`) ?? tensors.get(`${names[0]}.sum`);
  if (!(layers > 0 && dff > 0) && first?.shape.length === 2) [layers, dff] = first.shape;
  if (!(layers > 0 && dff > 0)) throw new UserError(`${mName}: no model.config.layers / intermediate, and ${aName} has no (layers, d_ff) tensor to read them from`);
  const units = layers * dff;

  const read = (name: string, n: number, required: boolean): Float64Array | undefined => {
    const t = tensors.get(name);
    if (!t) {
      if (required) throw new UserError(`${aName}: missing tensor ${name}; the file is damaged or not an aggregate`);
      return undefined;
    }
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== n) throw new UserError(`${aName}: ${name} has shape [${t.shape.join(', ')}], expected ${n} values for ${layers} layers × ${dff} neurons (manifest)`);
    return toFloat(t, Float64Array);
  };
  const cells: RunCell[] = [];
  for (const name of names) {
    const slash = name.lastIndexOf('/');
    const count = read(`${name}.count`, 1, true)![0];
    const sum = read(`${name}.sum`, units, false);
    let mean = read(`${name}.mean`, units, false);
    if (!mean && !sum) throw new UserError(`${aName}: cell ${name} has neither .mean nor .sum`);
    mean ??= sum!.map((x) => (count ? x / count : 0));
    const sumsq = read(`${name}.sumsq`, units, false);
    const sd = sumsq && count > 0 ? mean.map((m, u) => Math.sqrt(Math.max(0, sumsq[u] / count - m * m))) : undefined;
    const segSum = read(`${name}.seg_sum`, 5 * units, false);
    cells.push({
      name, dataset: slash > 0 ? name.slice(0, slash) : name, label: slash > 0 ? name.slice(slash + 1) : '', count, mean, sd,
      segMean: segSum?.map((x) => (count ? x / count : 0)),
    });
  }
  const groups: Record<string, string> = {};
  for (const d of Array.isArray(manifest.datasets) ? manifest.datasets : []) if (typeof d?.name === 'string') groups[d.name] = String(d.group ?? '');
  const o = manifest.options ?? {};
  const nig = o.nig ?? {};
  const options = [nig.steps !== undefined && `m = ${nig.steps}`, nig.rule, nig.target && `target ${nig.target}`, nig.baseline && `baseline ${nig.baseline}`, o.units]
    .filter(Boolean).join(' · ');
  const model = manifest.model?.hash ? `${String(manifest.model.dir ?? '').split('/').filter(Boolean).pop() ?? 'model'} (${String(manifest.model.hash).slice(0, 15)}…)` : '';
  return { where, layers, dff, cells, groups, options, model, environment: environmentLine(manifest.environment) };
}

/** One line of a manifest's `environment` (src/run/environment.ts). */
export function environmentLine(e: Json | undefined): string {
  if (!e || typeof e !== 'object') return '';
  const a = e.adapter ?? {};
  const git = e.package?.git?.commit ? ` @ ${String(e.package.git.commit).slice(0, 10)}${e.package.git.dirty ? '+' : ''}` : '';
  return [
    a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' / ') || 'no adapter',
    a.software === true ? '(software)' : a.software === false ? '(hardware)' : '',
    e.kernels?.class ? `· ${e.kernels.class}-class kernels` : '',
    e.package?.version ? `· ${e.package.name ?? 'ir-neurons'} ${e.package.version}${git}` : '',
    e.webgpu?.version ? `· webgpu ${e.webgpu.version}` : '',
    e.node ? `· Node ${e.node}` : '',
    e.os?.platform ? `· ${e.os.platform} ${e.os.arch ?? ''}`.trimEnd() : '',
  ].filter(Boolean).join(' ');
}

/** Reads and parses a run from its two sources. */
export async function loadRun(src: RunSources): Promise<LoadedRun> {
  const [m, a] = await Promise.all([readSource(src.manifest, `${src.where}/manifest.json`), readSource(src.aggregate, `${src.where}/aggregate.safetensors`)]);
  return parseRun(m, a, src.where);
}

/** A run folder served over HTTP. */
export function runSourcesFromFolderUrl(folder: string): RunSources {
  const base = new URL(folder.endsWith('/') ? folder : `${folder}/`, globalThis.location?.href);
  return { manifest: new URL('manifest.json', base).href, aggregate: new URL('aggregate.safetensors', base).href, where: folder.replace(/\/$/, '') };
}

type Picked = File & { webkitRelativePath?: string };
const folderOf = (f: Picked) => f.webkitRelativePath?.split('/').slice(0, -1).join('/') ?? '';

/**
 * Picks manifest.json and aggregate.safetensors out of chosen or dropped files: a run folder, or an experiment (or
 * demo) folder, whose run is run/ (its shards' and datasets' files are passed over).
 */
export function runSourcesFromFiles(files: File[]): RunSources {
  const fs = files as Picked[];
  const depth = (f: Picked) => folderOf(f).split('/').length;
  const named = (n: string) => fs.filter((f) => f.name === n).sort((x, y) => Number(/(^|\/)run$/.test(folderOf(y))) - Number(/(^|\/)run$/.test(folderOf(x))) || depth(x) - depth(y));
  const manifest = named('manifest.json').find((m) => fs.some((f) => f.name === 'aggregate.safetensors' && folderOf(f) === folderOf(m))) ?? named('manifest.json')[0] ?? fs.find((f) => /manifest.*\.json$/i.test(f.name));
  const aggregate = named('aggregate.safetensors').find((f) => manifest && folderOf(f) === folderOf(manifest)) ?? named('aggregate.safetensors')[0] ?? fs.filter((f) => f.name.endsWith('.safetensors') && !/checkpoint|pairs/.test(f.name)).at(0);
  const missing = [!manifest && 'manifest.json', !aggregate && 'aggregate.safetensors'].filter(Boolean);
  if (missing.length) {
    throw new UserError(`missing ${missing.join(' and ')} among the ${files.length} files given (${files.map((f) => f.name).join(', ') || 'none'}); ` +
      "select or drop the --out folder of 'ir-neurons attribute --dataset' (its manifest.json and aggregate.safetensors)");
  }
  const dir = folderOf(manifest!);
  return { manifest: manifest!, aggregate: aggregate!, where: dir || 'the chosen run' };
}
