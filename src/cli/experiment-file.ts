/**
 * The experiment file (`ir-neurons experiment FILE.json`): its reader, its checks and its JSON Schema, all read
 * from the commands' own option tables (src/cli/attribute.ts, prune.ts, report.ts), so a field of the file is an
 * option of the command that step runs — same name, type, default and allowed values — and nothing is written
 * twice. Relative paths resolve against the file's folder. Every error is one line naming the file, the field
 * and the fix.
 *
 *   { "version": 1, "name": "…",
 *     "model": { "dir": "weights/minilm-l6" } | { "hub": "org/name", "revision": "…", "dir"?: "…" } | { "toy": "planted", "seed": 1 },
 *     "tokenizer"?: "FILE",
 *     "datasets": { "names": "dl19,dl20,out-of-domain", "config"?: "FILE", "shared"?: "DIR" } | { "toy": [{ "name", "group", "seed", "domain" }] },
 *     "attribute": { …attribute's options… }, "prune"?: { …prune's options… } | false, "report"?: { …report's options… } | false }
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { applyDefaults, checkNumber, opt, type Opt, type OptionSpec } from './args.ts';
import { COMMON, DATASET_ONLY } from './attribute.ts';
import { command as pruneCommand } from './prune.ts';
import { command as reportCommand } from './report.ts';
import { UserError } from '../util/errors.ts';
import { checkRepoId } from '../hub/download.ts';

export const EXPERIMENT_VERSION = 1;

const pick = (spec: OptionSpec, omit: string[]): Record<string, Opt> =>
  Object.fromEntries(Object.entries(spec).filter(([k]) => !omit.includes(k)).map(([k, o]) => [k, opt(o)]));

/** The options of each step the file may set: the command's table less what the experiment itself decides. */
export const SECTIONS = {
  attribute: pick({ ...COMMON, ...DATASET_ONLY }, ['model', 'tokenizer', 'out', 'dataset', 'datasets-config', 'shared', 'shard', 'resume', 'stop-after']),
  prune: pick(pruneCommand.options, ['model', 'tokenizer', 'run', 'out', 'datasets-config', 'shared']),
  report: pick(reportCommand.options, ['out', 'pruning', 'pruning-heads']),
} as const;
export type Section = keyof typeof SECTIONS;

/** Options that change no number (their help says so): left out of the step keys, so changing them re-runs nothing. */
export const UNKEYED: Record<Section, string[]> = { attribute: ['pack', 'checkpoint-every'], prune: ['batch'], report: [] };
/** Options whose value is a comma-separated list: the file may give an array. */
const LISTS = new Set(['percents', 'schemes', 'dataset', 'exclude', 'units']);

export type Values = Record<string, string | number | boolean | undefined>;

export type ModelSource =
  | { kind: 'dir'; dir: string }
  | { kind: 'hub'; repo: string; revision: string; dir?: string }
  | { kind: 'toy'; toy: 'planted'; seed: number };

export interface ToyDataset { name: string; group: 'in-domain' | 'out-of-domain'; seed: number; domain: 'in' | 'ood' }
export type DatasetSource =
  | { kind: 'config'; names: string; config?: string; shared?: string }
  | { kind: 'toy'; toy: ToyDataset[] };

export interface Experiment {
  file: string;
  /** sha256 of the file's bytes */
  hash: string;
  /** the file's text, copied into the output folder */
  text: string;
  name: string;
  description?: string;
  model: ModelSource;
  tokenizer?: string;
  datasets: DatasetSource;
  /** each step's options, defaults applied (null: the step is off) */
  attribute: Values;
  prune: Values | null;
  report: Values | null;
}

const TOP = ['$schema', 'version', 'name', 'description', 'model', 'tokenizer', 'datasets', 'attribute', 'prune', 'report'];

/** Reads and checks an experiment file (`-` for standard input: relative paths then resolve against the current folder). */
export function readExperiment(file: string): Experiment {
  let text: string;
  if (file === '-') text = readFileSync(0, 'utf8');
  else {
    if (!existsSync(file)) throw new UserError(`${file}: no such experiment file (see experiments/demo.json for one)`);
    text = readFileSync(file, 'utf8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message}); fix the file (an editor with schema support helps: ir-neurons experiment --schema)`);
  }
  return checkExperiment(doc, file === '-' ? 'standard input' : file, file === '-' ? process.cwd() : dirname(resolve(file)), text);
}

/** Checks a parsed experiment document; `base` is the folder relative paths resolve against. */
export function checkExperiment(doc: unknown, file: string, base: string, text = JSON.stringify(doc)): Experiment {
  const bad = (field: string, what: string): never => { throw new UserError(`${file}: ${field}: ${what}`); };
  const obj = (v: unknown, field: string): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : bad(field, `must be an object, got ${show(v)}`));
  const str = (v: unknown, field: string): string => (typeof v === 'string' && v !== '' ? v : bad(field, `must be a non-empty string, got ${show(v)}`));
  const only = (o: Record<string, unknown>, field: string, keys: string[]) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`${field}${field ? '.' : ''}${k}`, `is not a field${field ? ` of ${field}` : ''}${near(k, keys)} (fields: ${keys.join(', ')})`);
  };
  const path = (v: unknown, field: string) => resolve(base, str(v, field));
  const d = obj(doc, '(top level)');
  only(d, '', TOP);
  if (d.version !== EXPERIMENT_VERSION) bad('version', `must be ${EXPERIMENT_VERSION} (this ir-neurons reads experiment files of version ${EXPERIMENT_VERSION}), got ${show(d.version)}`);
  const name = str(d.name, 'name');
  if (d.description !== undefined) str(d.description, 'description');

  const m = obj(d.model, 'model');
  let model: ModelSource;
  const kinds = ['toy', 'hub', 'dir'].filter((k) => m[k] !== undefined);
  if (m.toy !== undefined) {
    only(m, 'model', ['toy', 'seed']);
    if (m.toy !== 'planted') bad('model.toy', `must be "planted" (the bundled tiny model with planted neurons), got ${show(m.toy)}`);
    model = { kind: 'toy', toy: 'planted', seed: m.seed === undefined ? 1 : checkNumber('seed', num(m.seed, 'model.seed', bad), { kind: 'int', min: 0 }, `${file}: model.seed`) };
  } else if (m.hub !== undefined) {
    only(m, 'model', ['hub', 'revision', 'dir']);
    const repo = str(m.hub, 'model.hub');
    try { checkRepoId(repo); } catch (e) { bad('model.hub', (e as Error).message); }
    model = { kind: 'hub', repo, revision: m.revision === undefined ? 'main' : str(m.revision, 'model.revision'), ...(m.dir !== undefined ? { dir: path(m.dir, 'model.dir') } : {}) };
  } else if (m.dir !== undefined) {
    only(m, 'model', ['dir']);
    model = { kind: 'dir', dir: path(m.dir, 'model.dir') };
  } else model = bad('model', `give one of "dir" (a checkpoint folder), "hub" (a Hugging Face id, with "revision") or "toy": "planted"`);
  if (kinds.length > 1 && !(kinds.length === 2 && m.hub !== undefined && m.dir !== undefined)) bad('model', `give one of "dir", "hub" or "toy", not ${kinds.join(' and ')}`);

  const ds = obj(d.datasets, 'datasets');
  let datasets: DatasetSource;
  if (ds.toy !== undefined) {
    only(ds, 'datasets', ['toy']);
    if (!Array.isArray(ds.toy) || !ds.toy.length) bad('datasets.toy', 'must be a non-empty array of {"name", "group", "seed", "domain"}');
    datasets = {
      kind: 'toy',
      toy: (ds.toy as unknown[]).map((t, i) => {
        const f = `datasets.toy[${i}]`;
        const o = obj(t, f);
        only(o, f, ['name', 'group', 'seed', 'domain']);
        const group = o.group === 'in-domain' || o.group === 'out-of-domain' ? o.group : bad(`${f}.group`, `must be "in-domain" or "out-of-domain", got ${show(o.group)}`);
        const domain = o.domain === 'in' || o.domain === 'ood' ? o.domain : bad(`${f}.domain`, `must be "in" or "ood", got ${show(o.domain)}`);
        return { name: str(o.name, `${f}.name`), group, seed: checkNumber('seed', num(o.seed, `${f}.seed`, bad), { kind: 'int', min: 0 }, `${file}: ${f}.seed`), domain };
      }),
    };
  } else {
    only(ds, 'datasets', ['names', 'config', 'shared']);
    const names = Array.isArray(ds.names) ? ds.names.map((x, i) => str(x, `datasets.names[${i}]`)).join(',') : str(ds.names, 'datasets.names');
    datasets = { kind: 'config', names, ...(ds.config !== undefined ? { config: path(ds.config, 'datasets.config') } : {}), ...(ds.shared !== undefined ? { shared: path(ds.shared, 'datasets.shared') } : {}) };
  }

  // a step's options; an optional step left out runs with its defaults, `false` turns it off
  const section = (s: Section, v: unknown, optional: boolean): Values | null => {
    if ((v === undefined || v === false) && !optional) bad(s, `is required (an object of ${s}'s options, e.g. {"steps": 20})`);
    if (v === false) return null;
    return values(s, v === undefined ? {} : obj(v, s));
  };
  const values = (s: Section, o: Record<string, unknown>): Values => {
    const spec = SECTIONS[s];
    only(o, s, Object.keys(spec));
    const out: Values = {};
    for (const [k, v] of Object.entries(o)) out[k] = fieldValue(s, k, v, spec[k], file, bad);
    applyDefaults(spec, out);
    return out;
  };
  const attribute = section('attribute', d.attribute, false)!;
  if (attribute.steps === undefined && attribute.tol === undefined) bad('attribute', 'give "steps" (e.g. 20) or "tol" (an adaptive m, e.g. 1e-3)');
  if (attribute.tol === undefined && (d.attribute as Record<string, unknown>)['max-steps'] !== undefined) bad('attribute.max-steps', 'caps the adaptive m of "tol"; give "tol" too, or drop "max-steps"');
  return {
    file, hash: `sha256:${createHash('sha256').update(text).digest('hex')}`, text, name,
    ...(d.description !== undefined ? { description: d.description as string } : {}),
    model, ...(d.tokenizer !== undefined ? { tokenizer: path(d.tokenizer, 'tokenizer') } : {}), datasets,
    attribute, prune: section('prune', d.prune, true), report: section('report', d.report, true),
  };
}

function fieldValue(s: Section, k: string, v: unknown, o: Opt, file: string, bad: (f: string, w: string) => never): string | number | boolean {
  const field = `${s}.${k}`;
  if (o.kind === 'boolean') return typeof v === 'boolean' ? v : bad(field, `must be true or false, got ${show(v)}`);
  if (o.kind === 'int' || o.kind === 'number') return checkNumber(k, num(v, field, bad), o, `${file}: ${field}`);
  if (LISTS.has(k) && Array.isArray(v) && v.length && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.join(k === 'exclude' ? '/' : ',');
  if (typeof v !== 'string' || v === '') bad(field, `must be a string${LISTS.has(k) ? ' or an array' : ''}${o.choices ? ` (one of: ${o.choices.join(', ')})` : ''}, got ${show(v)}`);
  const items = o.list ? (v as string).split(',') : [v as string];
  const off = o.choices ? items.find((x) => !o.choices!.includes(x)) : undefined;
  if (off !== undefined) bad(field, `'${o.list ? off : v}' is not one of: ${o.choices!.join(', ')}`);
  return v as string;
}

function num(v: unknown, field: string, bad: (f: string, w: string) => never): number {
  return typeof v === 'number' ? v : bad(field, `must be a number, got ${show(v)}`);
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v).slice(0, 60);
}

/** "; did you mean X?" for a near miss (one edit, or the same letters in another case). */
function near(k: string, keys: string[]): string {
  const hit = keys.find((x) => x.toLowerCase() === k.toLowerCase() || editDistance(x, k) <= 2);
  return hit ? `; did you mean "${hit}"?` : '';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** The JSON Schema of experiment files (draft 2020-12), from the same tables: `ir-neurons experiment --schema`. */
export function experimentSchema(): Record<string, unknown> {
  const prop = (k: string, o: Opt): Record<string, unknown> => {
    const base: Record<string, unknown> = o.kind === 'boolean' ? { type: 'boolean' } : o.kind === 'int' ? { type: 'integer' } : o.kind === 'number' ? { type: 'number' } : { type: 'string', minLength: 1 };
    if (o.min !== undefined) base[o.exclusiveMin ? 'exclusiveMinimum' : 'minimum'] = o.min;
    if (o.exclusiveMax !== undefined) base.exclusiveMaximum = o.exclusiveMax;
    if (o.choices && o.list) base.pattern = `^(${o.choices.join('|')})(,(${o.choices.join('|')}))*$`;
    else if (o.choices) base.enum = [...o.choices];
    if (o.default !== undefined) base.default = o.default;
    const description = [o.help, o.derived ? `(default: ${o.derived})` : ''].filter(Boolean).join(' ');
    const one = LISTS.has(k) ? { anyOf: [base, { type: 'array', minItems: 1, items: { type: ['string', 'number'] } }] } : base;
    return { ...one, description };
  };
  const section = (s: Section) => ({
    type: 'object', additionalProperties: false,
    properties: Object.fromEntries(Object.entries(SECTIONS[s]).map(([k, o]) => [k, prop(k, o)])),
  });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'ir-neurons experiment',
    description: 'One experiment: model, datasets, NIG (attribute), pruning and report options. Run: ir-neurons experiment FILE.json --out DIR. Relative paths resolve against the file\'s folder.',
    type: 'object', additionalProperties: false, required: ['version', 'name', 'model', 'datasets', 'attribute'],
    properties: {
      $schema: { type: 'string' },
      version: { const: EXPERIMENT_VERSION },
      name: { type: 'string', minLength: 1 },
      description: { type: 'string' },
      model: {
        oneOf: [
          { type: 'object', additionalProperties: false, required: ['dir'], properties: { dir: { type: 'string', description: 'a checkpoint folder (config.json, weights, tokenizer)' } } },
          { type: 'object', additionalProperties: false, required: ['hub'], properties: { hub: { type: 'string', description: 'a Hugging Face model id, fetched as `ir-neurons download` does' }, revision: { type: 'string', default: 'main', description: 'branch, tag or (for reproducibility) commit' }, dir: { type: 'string', description: 'where the files go (default: DIR/model)' } } },
          { type: 'object', additionalProperties: false, required: ['toy'], properties: { toy: { const: 'planted' }, seed: { type: 'integer', minimum: 0, default: 1 } } },
        ],
      },
      tokenizer: { type: 'string', description: "tokenizer.json or vocab.txt to use instead of the model folder's" },
      datasets: {
        oneOf: [
          { type: 'object', additionalProperties: false, required: ['names'], properties: { names: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'datasets or groups (in-domain, out-of-domain, all) of the dataset list' }, config: { type: 'string', description: 'the dataset list (default: the package\'s data/datasets.json)' }, shared: { type: 'string', description: 'root of the dataset files (default: $IR_NEURONS_SHARED or ../shared)' } } },
          { type: 'object', additionalProperties: false, required: ['toy'], properties: { toy: { type: 'array', minItems: 1, items: { type: 'object', additionalProperties: false, required: ['name', 'group', 'seed', 'domain'], properties: { name: { type: 'string' }, group: { enum: ['in-domain', 'out-of-domain'] }, seed: { type: 'integer', minimum: 0 }, domain: { enum: ['in', 'ood'] } } } } } },
        ],
      },
      attribute: section('attribute'),
      prune: { anyOf: [section('prune'), { const: false }] },
      report: { anyOf: [section('report'), { const: false }] },
    },
  };
}
