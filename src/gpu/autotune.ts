/**
 * The matmul autotuner's machinery: the choice cache (in memory per device, on disk per adapter) and the
 * validate-then-time loop over candidate dispatches. The matmul family itself (its variants, its epilogues, the
 * shape classes that key the cache, and `tuneMatmuls`, which builds the candidates) lives with its builder in
 * src/kernels/matmul.ts; this module imports nothing from it and sees a shape class only as an opaque key string,
 * so the builder can consult the cache without an import cycle.
 *
 * When the builder uses a tuned variant (otherwise it uses the default; the model needs no tuning):
 *   IR_NEURONS_TUNE unset       on a hardware adapter as 1 (first-use tuning, bounded); on a software one (lavapipe,
 *                               llvmpipe, SwiftShader, WARP, or a fallback adapter) as 0
 *   IR_NEURONS_TUNE=0           only after an explicit `tuneMatmuls(g, shapes)` on that device (`ir-neurons doctor --tune`)
 *   IR_NEURONS_TUNE=1           reads the cache; a shape class missing from it is tuned on first use and saved, within a
 *                               budget per device (FIRST_USE_BUDGET_S, 20 s; IR_NEURONS_TUNE_BUDGET=seconds): once it is
 *                               spent, missing classes run the default until a later process (or doctor --tune) tunes them
 *   IR_NEURONS_TUNE=cached      reads the cache, never tunes (misses use the default)
 * A tuning whose budget runs out keeps the best candidate timed so far (`partial` in its entry; the default is always
 * one); a partial entry is used as it is and completed only by an explicit tuning (doctor --tune). One that timed the
 * default alone is not kept: the class stays missing, for a later process to tune.
 *
 * Cache (Node): `$IR_NEURONS_TUNE_CACHE` when set (bench/gpu-run.sh keeps it with its logs), else
 * `$XDG_CACHE_HOME/ir-neurons/matmul-tune.json`, else `~/.cache/ir-neurons/matmul-tune.json`;
 * in a browser, or when a store is injected with `setTuneStore`, wherever that store keeps it. Written atomically
 * (temporary file, fsync, rename). Keyed by the adapter (vendor, architecture, device, description — Dawn's
 * description carries the driver and its version) and this package's version, so a new driver or release tunes anew:
 *   { "format": 1, "adapters": { "<vendor / architecture / device / description / ir-neurons VERSION>": {
 *       "<shape class>": { family, variant, constants, M, N, K, ms, defaultMs, gflops, timed, rejected, partial?, date } } } }
 * A choice whose `family` differs from the builder's (its code changed since) is ignored.
 * No Node import here: Node's fs is reached through `process.getBuiltinModule`, only when a file store is used.
 */
import { UserError } from '../util/errors.ts';
import { isSoftwareAdapter, type Gpu } from './device.ts';
import type { Dispatch } from './pipelines.ts';
import { settle, submit } from './queue.ts';

/** The product a tuning timed (for its GFLOP/s and the cache entry). */
export interface TuneDims { M: number; N: number; K: number }

/** The cache's key for a device: its adapter (vendor, architecture, device, description: the driver) and the package's version. */
export function adapterKey(g: Pick<Gpu, 'adapterInfo'>): string {
  const a = g.adapterInfo;
  return [a.vendor, a.architecture, a.device, a.description, `ir-neurons ${packageVersion()}`].join(' / ');
}

let version: string | null = null;
/** This package's version (its package.json, two folders up from src/gpu/ and from dist/lib/ alike); 'unknown' outside Node. */
export function packageVersion(): string {
  if (version !== null) return version;
  version = 'unknown';
  try {
    const fs = nodeModule<typeof import('node:fs')>('node:fs');
    const url = nodeModule<typeof import('node:url')>('node:url');
    version = String(JSON.parse(fs.readFileSync(url.fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')).version ?? 'unknown');
  } catch { /* a browser, or no package.json beside the code: 'unknown' */ }
  return version;
}

// ---------- the cache and its stores ----------
export const TUNE_FORMAT = 1;

export interface TuneChoice {
  family: string;                               // the builder's family version (MATMUL_FAMILY)
  variant: string;                              // the fastest valid candidate
  constants: Record<string, number | boolean>;  // its parameters (a matmul variant's template values), for people reading the file
  M: number; N: number; K: number;              // the shape that was timed
  ms: number;                                   // its median time per product
  defaultMs: number;                            // the default variant's median time
  gflops: number;                               // 2·M·N·K / ms
  timed: Record<string, number>;                // median ms of every timed candidate
  rejected: Record<string, string>;             // candidates not timed, and why
  /** The budget ran out before every candidate was tried: the best of those timed (see the header). */
  partial?: boolean;
  date: string;
}

export interface TuneFile { format: number; adapters: Record<string, Record<string, TuneChoice>> }

/** Where choices persist: a JSON file in Node, memory in a browser, anything a caller injects. */
export interface TuneStore {
  readonly where: string;
  load(): Promise<TuneFile | null>;
  save(f: TuneFile): Promise<void>;
}

export function memoryStore(): TuneStore {
  let kept: string | null = null;
  return {
    where: 'memory',
    async load() { return kept ? (JSON.parse(kept) as TuneFile) : null; },
    async save(f) { kept = JSON.stringify(f); },
  };
}

type Proc = { versions?: { node?: string }; env?: Record<string, string | undefined>; pid?: number; getBuiltinModule?: (id: string) => unknown };
const proc = (): Proc | undefined => (globalThis as { process?: Proc }).process;

function nodeModule<T>(id: string): T {
  const m = proc()?.getBuiltinModule?.(id) as T | undefined;
  if (!m) throw new Error(`the matmul tune cache needs Node's ${id} (Node ≥ 20.16 has process.getBuiltinModule); use setTuneStore(memoryStore()) elsewhere`);
  return m;
}

/** A JSON file, written atomically (temporary file, then rename). A missing or unreadable file is an empty cache. */
export function fileStore(path: string): TuneStore {
  type Fs = typeof import('node:fs');
  type Path = typeof import('node:path');
  return {
    where: path,
    async load() {
      const fs = nodeModule<Fs>('node:fs');
      let text: string;
      try { text = fs.readFileSync(path, 'utf8'); } catch { return null; }
      try {
        const f = JSON.parse(text) as TuneFile;
        return f?.format === TUNE_FORMAT && typeof f.adapters === 'object' ? f : null;
      } catch {
        console.error(`ir-neurons: the matmul tune cache ${path} is not valid JSON; it will be rewritten by the next tuning`);
        return null;
      }
    },
    async save(f) {
      const fs = nodeModule<Fs>('node:fs');
      fs.mkdirSync(nodeModule<Path>('node:path').dirname(path), { recursive: true });
      const tmp = `${path}.${proc()?.pid ?? 0}.tmp`;
      // temp file, fsync, rename: a crash leaves the old cache or the new one, never half of one (as src/util/atomic.ts;
      // not imported here, since src/gpu/ stays free of Node imports for the browser bundle)
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, JSON.stringify(f, null, 1) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, path);
    },
  };
}

/** The default cache file in Node (IR_NEURONS_TUNE_CACHE, a file path; else under XDG_CACHE_HOME, else ~/.cache); null outside Node. */
export function defaultTunePath(): string | null {
  const p = proc();
  if (!p?.versions?.node || !p.getBuiltinModule) return null;
  if (p.env?.IR_NEURONS_TUNE_CACHE) return p.env.IR_NEURONS_TUNE_CACHE;
  const { join } = nodeModule<typeof import('node:path')>('node:path');
  const base = p.env?.XDG_CACHE_HOME || join(nodeModule<typeof import('node:os')>('node:os').homedir(), '.cache');
  return join(base, 'ir-neurons', 'matmul-tune.json');
}

let injected: TuneStore | null = null;
const memory = memoryStore();
/** Injects the store every device uses from now on (null: back to the default). */
export function setTuneStore(s: TuneStore | null): void { injected = s; }
/** The injected store, else the default file in Node (resolved now, so XDG_CACHE_HOME is read late), else memory. */
export function tuneStore(): TuneStore {
  if (injected) return injected;
  const path = defaultTunePath();
  return path ? fileStore(path) : memory;
}

export type TuneMode = 'off' | 'tune' | 'cached';

/** Whether the device's adapter runs on the CPU (says it is a fallback adapter, or names a software rasteriser). */
export function softwareAdapter(g: Pick<Gpu, 'adapterInfo'>): boolean {
  return g.adapterInfo.isFallbackAdapter === true || isSoftwareAdapter(g.adapterInfo);
}

/** The tuning mode: IR_NEURONS_TUNE when set (see the header); unset, 'tune' on a hardware adapter and 'off' on a
 * software one (or without a device). */
export function tuneMode(g?: Pick<Gpu, 'adapterInfo'>): TuneMode {
  const v = proc()?.env?.IR_NEURONS_TUNE;
  if (v === undefined || v === '') return g && !softwareAdapter(g) ? 'tune' : 'off';
  if (v === '0') return 'off';
  if (v === '1') return 'tune';
  if (v === 'cached') return 'cached';
  throw new UserError(`IR_NEURONS_TUNE is '${v}', expected 0 (default variants), 1 (tune missing shapes and cache them; the default on a hardware adapter) or cached (use cached choices only)`);
}

/** The first-use tuning budget per device, in seconds. */
export const FIRST_USE_BUDGET_S = 20;
/** IR_NEURONS_TUNE_BUDGET (seconds) when set, else FIRST_USE_BUDGET_S; in ms. */
export function firstUseBudgetMs(): number {
  const v = proc()?.env?.IR_NEURONS_TUNE_BUDGET;
  if (v === undefined || v === '') return FIRST_USE_BUDGET_S * 1000;
  const s = Number(v);
  if (!(s >= 0) || !Number.isFinite(s) || v.trim() !== v) throw new UserError(`IR_NEURONS_TUNE_BUDGET is '${v}', expected seconds (a number >= 0, e.g. 20)`);
  return s * 1000;
}

// ---------- per-device state ----------
interface State {
  active: boolean;                                   // tuneMatmuls ran on this device
  choices: Promise<Map<string, TuneChoice>> | null;  // this adapter's cached choices, loaded once
  pending: Map<string, Promise<TuneChoice>>;         // tunings in flight, by shape class
  used: Map<string, string>;                         // the tuned choice each shape class was given
  budgetLeftMs: number | null;                       // first-use tuning budget left (null: not started)
  deadline: number | null;                           // while a first-use tuning runs: when it must stop (performance.now())
  skipped: number;                                   // first-use tunings not run: the budget was spent
}
const states = new WeakMap<Gpu, State>();
function state(g: Gpu): State {
  let s = states.get(g);
  if (!s) states.set(g, (s = { active: false, choices: null, pending: new Map(), used: new Map(), budgetLeftMs: null, deadline: null, skipped: 0 }));
  return s;
}

function choicesOf(g: Gpu): Promise<Map<string, TuneChoice>> {
  const s = state(g);
  s.choices ??= tuneStore().load().then((f) => new Map(Object.entries(f?.adapters[adapterKey(g)] ?? {})));
  return s.choices;
}

/** Forgets this device's in-memory choices and activation (the next lookup reloads the store). */
export function resetTuning(g: Gpu): void { states.delete(g); }

/**
 * The tuned variant name for the shape class `key` when the builder should use one (see the header), else undefined. In mode
 * 'tune' a missing class is first tuned by `tuneMissing` (the builder's tuneMatmuls) within what is left of the device's
 * first-use budget; with none left it is not tuned (the default runs; a later process tunes it).
 */
export async function tunedVariant(g: Gpu, family: string, key: string, tuneMissing: () => Promise<unknown>): Promise<string | undefined> {
  const mode = tuneMode(g);
  const s = state(g);
  if (mode === 'off' && !s.active) return undefined;
  let c = (await choicesOf(g)).get(key);
  if (c?.family !== family && mode === 'tune') {
    if (s.budgetLeftMs === null) {
      s.budgetLeftMs = firstUseBudgetMs();
      if (s.budgetLeftMs > 0) console.error(`ir-neurons: tuning the matmul kernels for this adapter on first use (at most ${+(s.budgetLeftMs / 1000).toPrecision(3)} s in this process; kept in ${tuneStore().where})`);
    }
    if (s.budgetLeftMs > 0) {
      const t0 = performance.now();
      if (s.deadline === null) s.deadline = t0 + s.budgetLeftMs;
      try {
        await tuneMissing();
      } finally {
        s.budgetLeftMs = Math.max(0, s.budgetLeftMs - (performance.now() - t0));
        if (!s.pending.size) s.deadline = null;
      }
      c = (await choicesOf(g)).get(key);
    } else if (s.skipped++ === 0) {
      console.error(`ir-neurons: the matmul tuning budget of ${+(firstUseBudgetMs() / 1000).toPrecision(3)} s is spent; shapes not tuned yet run the default kernel (a later run tunes them, or \`ir-neurons doctor --tune\` now; IR_NEURONS_TUNE_BUDGET=seconds changes the budget)`);
    }
  }
  if (c?.family !== family) return undefined;
  s.used.set(key, c.variant);
  return c.variant;
}

/** How much of the device's first-use budget is left (ms; null: no first-use tuning ran) and how many tunings it skipped. */
export function tuneBudget(g: Gpu): { leftMs: number | null; skipped: number } {
  const s = state(g);
  return { leftMs: s.budgetLeftMs, skipped: s.skipped };
}

/** The tuned choices builders on this device were given so far, by shape class (empty: every product ran the default
 * variant or the CPU class), for the run's manifest. A builder still runs the default where a choice cannot run
 * its product (alignment); the pipeline cache's keys say exactly which variants were built. */
export function tunedPicks(g: Gpu): Record<string, string> {
  return Object.fromEntries([...(states.get(g)?.used ?? [])].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Runs `tune` for the shape class `key` at most once at a time per device; later lookups see its choice. */
export function tuneOnce(g: Gpu, key: string, tune: () => Promise<TuneChoice>): Promise<TuneChoice> {
  const s = state(g);
  s.active = true;
  let p = s.pending.get(key);
  if (!p) {
    p = tune().finally(() => s.pending.delete(key));
    s.pending.set(key, p);
  }
  return p;
}

/** Keeps `c` for this device and merges it into the store (reloaded first, so concurrent tunings both survive). */
async function record(g: Gpu, key: string, c: TuneChoice): Promise<void> {
  (await choicesOf(g)).set(key, c);
  const store = tuneStore();
  try {
    const f: TuneFile = (await store.load()) ?? { format: TUNE_FORMAT, adapters: {} };
    (f.adapters[adapterKey(g)] ??= {})[key] = c;
    await store.save(f);
  } catch (e) {
    console.error(`ir-neurons: could not save the matmul tuning to ${store.where} (${(e as Error).message}); the choice holds for this process only — check that directory is writable, or set XDG_CACHE_HOME`);
  }
}

// ---------- validate, time, pick ----------
export interface TuneCandidate { name: string; constants: Record<string, number | boolean>; dispatch: Dispatch }

export interface TuneProblem {
  family: string;
  key: string;                       // the shape class (the cache key), named by the builder
  shape: TuneDims;
  candidates: TuneCandidate[];       // [0]: the reference (the default variant); all write the same outputs
  rejected?: Record<string, string>; // candidates already ruled out (limits, alignment, compile errors)
  read(): Promise<Float32Array[]>;   // the outputs after a run
  tol: number;                       // relative L2 against the reference, per output
}

export interface TuneOptions {
  /** Rough wall-clock budget for timing one shape (ms); each candidate still gets ≥ 3 timed rounds (≥ 1 under a
   * deadline). Default 4000. */
  budgetMs?: number;
  /** When the tuning must stop (performance.now() ms): no candidate is tried after it, and the best of those tried is
   * kept (partial). Default: the device's first-use deadline while a first-use tuning runs, else none. */
  deadline?: number;
  log?: (line: string) => void;
}

const relL2 = (a: Float32Array, b: Float32Array) => {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return d > 0 ? Math.sqrt(n / d) : Math.sqrt(n);
};
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };

/** Submits `reps` copies of `d` in one pass and waits (the queue's quiet wait, src/gpu/wait.ts); returns ms per copy (wall clock). */
async function timeOne(g: Gpu, d: Dispatch, reps: number): Promise<number> {
  const t0 = performance.now();
  await submit(g, Array(reps).fill(d), `tune ${d.label}`);
  await settle(g);
  return (performance.now() - t0) / reps;
}

/**
 * Runs each candidate once and compares its outputs with the reference's (mismatches and validation errors
 * are rejected), times the valid ones round robin (median wall clock; several copies per submission when one
 * product is short), records the fastest in the cache and returns it.
 */
export async function autotune(g: Gpu, pr: TuneProblem, opts: TuneOptions = {}): Promise<TuneChoice> {
  const { M, N, K } = pr.shape;
  const key = pr.key;
  const rejected: Record<string, string> = { ...pr.rejected };
  if (!pr.candidates.length) throw new Error(`autotune ${key}: no candidates (the default variant must be first)`);
  const valid: { c: TuneCandidate; est: number }[] = [];
  const deadline = opts.deadline ?? state(g).deadline ?? undefined;
  let partial = false;
  let ref: Float32Array[] = [];
  for (const [i, c] of pr.candidates.entries()) {
    // (the default, first, always runs: it is the reference and the fallback choice)
    if (i > 0 && deadline !== undefined && performance.now() >= deadline) { rejected[c.name] = 'not tried: the tuning budget ran out'; partial = true; continue; }
    g.device.pushErrorScope('validation');
    const est = await timeOne(g, c.dispatch, 1);
    const err = await g.device.popErrorScope();
    if (err) { rejected[c.name] = `WebGPU validation error: ${err.message}`; continue; }
    const outs = await pr.read();
    if (i === 0) ref = outs.map((o) => o.slice());
    const e = Math.max(...outs.map((o, j) => relL2(o, ref[j])));
    const finite = outs.every((o) => o.every(Number.isFinite));
    if (!(e <= pr.tol) || !finite) { rejected[c.name] = `output differs from the default variant's: relative L2 ${e.toExponential(2)} > ${pr.tol}`; continue; }
    valid.push({ c, est });
  }
  if (!valid.length || valid[0].c !== pr.candidates[0]) throw new Error(`autotune ${key}: the default variant failed its own run (${rejected[pr.candidates[0].name]}); the kernel is broken, fix it before tuning`);
  const reps = valid.map(({ est }) => Math.max(1, Math.min(64, Math.ceil(5 / Math.max(est, 1e-3))))); // ≥ ~5 ms per submission
  const total = valid.reduce((a, { est }) => a + est, 0);
  const avail = Math.min(opts.budgetMs ?? 4000, deadline === undefined ? Infinity : Math.max(0, deadline - performance.now()));
  const rounds = Math.max(deadline === undefined ? 3 : 1, Math.min(9, Math.floor(avail / Math.max(total, 1e-3))));
  const times: number[][] = valid.map(() => []);
  for (let r = 0; r < rounds; r++) for (const [j, v] of valid.entries()) times[j].push(await timeOne(g, v.c.dispatch, reps[j]));
  const timed = Object.fromEntries(valid.map((v, j) => [v.c.name, median(times[j])]));
  const best = valid.reduce((b, v) => (timed[v.c.name] < timed[b.c.name] ? v : b));
  const ms = timed[best.c.name];
  const choice: TuneChoice = {
    family: pr.family, variant: best.c.name, constants: best.c.constants, M, N, K, ms, defaultMs: timed[valid[0].c.name],
    gflops: (2 * M * N * K) / (ms * 1e6), timed, rejected, ...(partial ? { partial } : {}), date: new Date().toISOString(),
  };
  opts.log?.(`tune ${key}: ${best.c.name} ${ms.toFixed(3)} ms (default ${choice.defaultMs.toFixed(3)} ms; ${valid.length} timed × ${rounds} rounds, ${Object.keys(rejected).length} rejected${partial ? '; budget ran out: partial' : ''})`);
  // (a tuning stopped before any candidate besides the default learned nothing: not kept, so a later one tunes the class)
  if (!(partial && valid.length === 1)) await record(g, key, choice);
  return choice;
}
