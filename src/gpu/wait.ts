/**
 * Waiting for a Dawn promise without stealing a core (src/gpu/queue.ts, the queue's owner, waits through here).
 * Dawn's Node binding polls in a busy loop on the main thread while a `queue.onSubmittedWorkDone()` or `mapAsync`
 * promise is pending (dawn-gpu/node-webgpu issue 17), which on a software adapter (lavapipe, SwiftShader:
 * `sharesHostCores`) takes a core from the threads doing the work. There every await is a quiet one: the main
 * thread blocks in `Atomics.wait` for a slice, then lets one turn of the event loop run (the binding's tick polls
 * once), and so on, each slice at most QUIET.share of the time waited so far and at most QUIET.maxMs. So a wait ends
 * at most max(QUIET.share × its length, QUIET.maxMs) after the work did, whatever came before it: nothing is
 * predicted, so a first wait that includes seconds of work teaches no later, shorter wait to oversleep. (Until issue
 * 21 a learned sleep came first; it never measurably beat the quiet wait alone, and one slow wait made every later
 * wait of its kind sleep up to 25x too long: bench/RESULTS.md.) On a real GPU the await is plain (the poll takes a
 * core the device does not need; a slice would only add latency). IR_NEURONS_WAIT=spin makes every await plain; in
 * a browser awaits are plain (no busy poll there).
 */
import type { GpuContext } from './context.ts';

/** The quiet wait's slices: the longest and the shortest, and their bound as a share of the time waited so far
 * (the overshoot of a wait is at most max(share × its length, maxMs)). */
export const QUIET = { maxMs: 8, minMs: 0.05, share: 0.1 };

/** What a quiet wait needs of the world: a clock, a way to block the thread, and one turn of the event loop.
 * Tests pass a fake one (test/wait.test.ts). */
export interface WaitClock {
  now(): number;
  block(ms: number): void;
  turn(): Promise<void>;
}

let quietCell: Int32Array | null = null;
const realClock: WaitClock = {
  now: () => performance.now(),
  block: (ms) => { Atomics.wait((quietCell ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms); },
  turn: () => new Promise<void>((r) => setImmediate(r)),
};

/** Counters for measurements (bench/nig.ts prints them): waits, ms spent waiting, and quiet slices (each one turn
 * of the event loop, i.e. one poll by the binding). */
export const waitStats = { waits: 0, waitedMs: 0, slices: 0 };

function plain(g?: GpuContext): boolean {
  if (typeof process === 'undefined' || !process.versions?.node) return true;
  if (process.env?.IR_NEURONS_WAIT === 'spin') return true;
  if (typeof setImmediate !== 'function' || typeof SharedArrayBuffer !== 'function') return true;
  return !!g && !g.sharesHostCores;
}

/**
 * Awaits `p` (a Dawn promise: onSubmittedWorkDone, mapAsync) without letting the binding busy-poll: in slices of
 * blocking (no tick can run) between single turns of the event loop, the slices growing with the time waited (see
 * QUIET). Timers and signal handlers run late by at most a slice. Only in Node with IR_NEURONS_WAIT unset and (given
 * `g`) for an adapter that runs on the host's cores; otherwise a plain await. `clock` is for tests.
 */
export async function quietly<T>(p: Promise<T>, g?: GpuContext, clock: WaitClock = realClock): Promise<T> {
  if (plain(g)) return p;
  let settled = false;
  const watched = p.then((v) => { settled = true; return v; }, (e: unknown) => { settled = true; throw e; });
  watched.catch(() => { /* rethrown by the await below */ });
  const t0 = clock.now();
  for (;;) {
    await clock.turn();
    if (settled) break;
    clock.block(Math.min(QUIET.maxMs, Math.max(QUIET.minMs, QUIET.share * (clock.now() - t0))));
    waitStats.slices++;
  }
  return watched;
}
