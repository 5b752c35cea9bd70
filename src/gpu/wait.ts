/**
 * Waiting for the queue without stealing a core. Dawn's Node binding polls in a busy loop on the main thread while
 * a `queue.onSubmittedWorkDone()` or `mapAsync` promise is pending (dawn-gpu/node-webgpu issue 17): on a software
 * adapter (lavapipe) that takes a core from the threads doing the work. So, in Node, `settle` first *sleeps*
 * (a timer: the event loop blocks, nothing polls) for most of the time the pending work is predicted to take, and
 * only then awaits the queue, briefly — and on a software adapter every await here is a quiet one (`quietly`): the
 * main thread blocks in short, growing slices between single turns of the event loop, so the binding's poll runs
 * once per slice instead of continuously. That also covers the first wait of a kind (nothing learned yet) and
 * `mapAsync`.
 *
 * Predictions are learned per device and per kind of pending work: the labels of the submits since the last wait
 * (digits folded, so 'NIG points 0..19' and 'NIG points 21..40' are one kind; a bracketed part is kept as it is:
 * `submit` appends the grid's size, so a shorter last chunk is another kind), in order. The first wait of a kind
 * only measures; later ones sleep `SLEEP_FRACTION` of the prediction, less the time already gone. When the work
 * was already done as the sleep ended (the await returned at once), the prediction shrinks; otherwise it moves
 * halfway to the time measured. Results are untouched: only when the host looks changes.
 *
 * IR_NEURONS_WAIT=spin turns both off (plain awaits); in a browser they are off (no busy poll there).
 */
import type { GpuContext } from './context.ts';

/** The share of the predicted time slept before awaiting. */
export const SLEEP_FRACTION = 0.85;
/** Predictions under this many ms are not slept on (a timer's granularity). */
const MIN_SLEEP_MS = 2;
/** An await that returns within this many ms, or this share of the prediction, of the sleep's end found the work
 * done: the sleep overshot (on a right prediction the await lasts about 1 − SLEEP_FRACTION of it). */
const OVERSHOOT_MS = 0.5;
const OVERSHOOT_SHARE = 0.05;

interface QueueState { kinds: string[]; t0: number; learned: Map<string, number> }
const states = new WeakMap<GPUDevice, QueueState>();

/** Counters for measurements (bench/nig.ts prints them): waits, ms slept, ms spent awaiting after the sleep, and
 * the blocking slices of `quietly` (each one turn of the event loop, i.e. one poll by the binding). */
export const waitStats = { waits: 0, sleptMs: 0, awaitedMs: 0, slices: 0 };

/** The longest slice `quietly` blocks for, and the shortest; a slice is also at most QUIET_SHARE of the time
 * waited so far, so a short wait is not stretched by more than that share. */
const QUIET_MAX_MS = 8;
const QUIET_MIN_MS = 0.05;
const QUIET_SHARE = 0.25;
let quietCell: Int32Array | null = null;

function mode(): 'sleep' | 'spin' {
  if (typeof process === 'undefined' || !process.versions?.node) return 'spin';
  return process.env?.IR_NEURONS_WAIT === 'spin' ? 'spin' : 'sleep';
}

function state(g: GpuContext): QueueState {
  let s = states.get(g.device);
  if (!s) states.set(g.device, (s = { kinds: [], t0: 0, learned: new Map() }));
  return s;
}

/** Records a submit (src/gpu/pipelines.ts `submit`, src/gpu/arena.ts `readView` call this right after theirs). */
export function noteSubmit(g: GpuContext, label: string): void {
  const s = state(g);
  if (!s.kinds.length) s.t0 = performance.now();
  if (s.kinds.length < 16) s.kinds.push(label.replace(/\[([^\]]*)\]|\d+/g, (m, grid) => (grid === undefined ? '#' : m)));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Awaits `p` (a Dawn promise: onSubmittedWorkDone, mapAsync) without letting the binding busy-poll: Dawn's Node
 * binding keeps a setImmediate tick running while a promise is pending, so a plain await spins the main thread
 * (a core that lavapipe's threads need). Here the main thread instead blocks in `Atomics.wait` for a slice (no
 * tick can run), then yields one turn of the event loop (the binding's tick, queued before ours, polls once and
 * settles `p` if the work is done), and so on, the slices growing to QUIET_MAX_MS. Timers and signal handlers
 * run late by at most a slice. Only in Node with IR_NEURONS_WAIT unset or 'sleep', and (given `g`) only for an
 * adapter that runs on the host's cores (`sharesHostCores`: lavapipe, SwiftShader); otherwise a plain await — on a
 * real GPU the poll takes a core nothing else needs, and a slice would only add latency.
 */
export async function quietly<T>(p: Promise<T>, g?: GpuContext): Promise<T> {
  if (g && !g.sharesHostCores) return p; // a real GPU: polling costs a core the device does not need, and no latency
  if (mode() === 'spin' || typeof setImmediate !== 'function' || typeof SharedArrayBuffer !== 'function') return p;
  let settled = false;
  const watched = p.then((v) => { settled = true; return v; }, (e: unknown) => { settled = true; throw e; });
  watched.catch(() => { /* rethrown by the await below */ });
  quietCell ??= new Int32Array(new SharedArrayBuffer(4));
  const t0 = performance.now();
  for (;;) {
    await new Promise<void>((r) => setImmediate(r));
    if (settled) break;
    const slice = Math.min(QUIET_MAX_MS, Math.max(QUIET_MIN_MS, QUIET_SHARE * (performance.now() - t0)));
    Atomics.wait(quietCell, 0, 0, slice);
    waitStats.slices++;
  }
  return watched;
}

/** Waits until everything submitted so far has finished: sleeping for most of the predicted time, then awaiting. */
export async function settle(g: GpuContext): Promise<void> {
  const s = state(g);
  if (!s.kinds.length || mode() === 'spin') {
    s.kinds = [];
    await quietly(g.device.queue.onSubmittedWorkDone(), g);
    return;
  }
  const key = s.kinds.join(' | ');
  const t0 = s.t0;
  s.kinds = [];
  const predicted = s.learned.get(key);
  let slept = 0;
  if (predicted !== undefined) {
    const ms = SLEEP_FRACTION * predicted - (performance.now() - t0);
    if (ms >= MIN_SLEEP_MS) {
      await sleep(ms);
      slept = ms;
    }
  }
  const t1 = performance.now();
  await quietly(g.device.queue.onSubmittedWorkDone(), g);
  const t2 = performance.now();
  waitStats.waits++;
  waitStats.sleptMs += slept;
  waitStats.awaitedMs += t2 - t1;
  const took = t2 - t0;
  if (predicted === undefined) s.learned.set(key, took);
  else if (slept && t2 - t1 < Math.max(OVERSHOOT_MS, OVERSHOOT_SHARE * predicted)) s.learned.set(key, 0.9 * predicted);
  else s.learned.set(key, 0.5 * (predicted + took));
}

/** The learned predictions of a device (ms by kind of pending work), for tests and benchmarks. */
export function predictions(g: GpuContext): Map<string, number> {
  return new Map(state(g).learned);
}
