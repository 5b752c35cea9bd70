/**
 * Waiting for the queue without stealing a core. Dawn's Node binding polls in a busy loop on the main thread while
 * a `queue.onSubmittedWorkDone()` or `mapAsync` promise is pending (dawn-gpu/node-webgpu issue 17): on a software
 * adapter (lavapipe) that takes a core from the threads doing the work. So, in Node, `settle` first *sleeps*
 * (a timer: the event loop blocks, nothing polls) for most of the time the pending work is predicted to take, and
 * only then awaits the queue, briefly.
 *
 * Predictions are learned per device and per kind of pending work: the labels of the submits since the last wait
 * (digits folded, so 'NIG points 0..19' and 'NIG points 21..40' are one kind; a bracketed part is kept as it is:
 * `submit` appends the grid's size, so a shorter last chunk is another kind), in order. The first wait of a kind
 * only measures; later ones sleep `SLEEP_FRACTION` of the prediction, less the time already gone. When the work
 * was already done as the sleep ended (the await returned at once), the prediction shrinks; otherwise it moves
 * halfway to the time measured. Results are untouched: only when the host looks changes.
 *
 * IR_NEURONS_WAIT=spin turns it off (plain awaits); in a browser it is off (no busy poll there).
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

/** Counters for measurements (bench/nig.ts prints them): waits, ms slept, ms spent awaiting after the sleep. */
export const waitStats = { waits: 0, sleptMs: 0, awaitedMs: 0 };

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

/** Waits until everything submitted so far has finished: sleeping for most of the predicted time, then awaiting. */
export async function settle(g: GpuContext): Promise<void> {
  const s = state(g);
  if (!s.kinds.length || mode() === 'spin') {
    s.kinds = [];
    await g.device.queue.onSubmittedWorkDone();
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
  await g.device.queue.onSubmittedWorkDone();
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
