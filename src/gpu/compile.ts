/**
 * Compiling before dispatching. Mesa's lavapipe compiles a compute pipeline with LLVM at its first dispatch, not
 * when it is created (0.3–1.2 s each on this project's CPU-class kernels; `createComputePipeline` itself takes
 * milliseconds), so on a cold shader cache the first pass of a run used to spend most of its time compiling inside
 * what looked like a wait for work. `ensureCompiled` (called by `submit`, src/gpu/queue.ts, for every pipeline a
 * submit uses for the first time) makes that explicit:
 *   - each new pipeline gets one dispatch of zero workgroups (indirect, so Dawn does not warn about it), which
 *     makes the driver compile it, before the real submit;
 *   - where the context has compile helpers (lavapipe in Node: src/gpu/node-compile.ts), the new pipelines are
 *     taken, longest WGSL first, from one queue by this device and — once its first kernel shows that it compiles
 *     rather than loads from the cache — by up to `max` helper devices: each device compiles on its own driver
 *     thread, and what a helper compiled reaches this device through Mesa's on-disk shader cache (this device's own
 *     dispatch of it then loads the cached code, milliseconds);
 *   - `onCompile` is told the progress (the CLI prints "compiling kernels 12/31" when it takes a while), and
 *     `compileStats` counts kernels and milliseconds (`--verbose` prints them; IR_NEURONS_COMPILE_LOG=1 each one).
 * On a real GPU the driver compiled at `createComputePipeline` (src/gpu/pipelines.ts times that): nothing to do.
 * A pipeline is compiled once per device and process; its sizes travel in uniforms, never in override constants.
 */
import type { GpuContext } from './context.ts';
import { createKernelPipeline, type Kernel } from './pipelines.ts';
import { quietly } from './wait.ts';

interface DeviceState {
  ready: WeakSet<GPUComputePipeline>;
  helpers: GPUDevice[];
  busy: Promise<void>;
  stats: CompileStats;
}
export interface CompileStats {
  /** Kernels compiled ahead of their first dispatch, on this device and on helpers. */
  kernels: number;
  onHelpers: number;
  /** Wall time of the compile rounds. */
  ms: number;
  /** Helper devices opened. */
  helpers: number;
}
const states = new WeakMap<GPUDevice, DeviceState>();
/** A first kernel still busy after this long is being compiled, not loaded from the driver's cache: helpers join. */
const COMPILING_MS = 150;
/** IR_NEURONS_COMPILE_LOG=1 prints each kernel's compile time (which device, how long, its WGSL's length). */
const LOG = typeof process !== 'undefined' && process.env?.IR_NEURONS_COMPILE_LOG === '1';
function state(g: GpuContext): DeviceState {
  let s = states.get(g.device);
  if (!s) states.set(g.device, (s = { ready: new WeakSet(), helpers: [], busy: Promise.resolve(), stats: { kernels: 0, onHelpers: 0, ms: 0, helpers: 0 } }));
  return s;
}

/** What compiling has cost this device so far. */
export function compileStats(g: GpuContext): CompileStats {
  return { ...state(g).stats };
}

/** Compiles every pipeline of `kernels` not yet dispatched on this device (see the module's comment). */
export function ensureCompiled(g: GpuContext, kernels: Kernel[]): Promise<void> {
  const s = state(g);
  if (kernels.every((k) => s.ready.has(k.pipeline))) return s.busy;
  const run = s.busy.then(() => compileRound(g, s, kernels));
  s.busy = run.catch(() => { /* the caller sees it */ });
  return run;
}

async function compileRound(g: GpuContext, s: DeviceState, kernels: Kernel[]): Promise<void> {
  const fresh = [...new Map(kernels.filter((k) => !s.ready.has(k.pipeline)).map((k) => [k.pipeline, k])).values()];
  if (!fresh.length) return;
  if (!g.sharesHostCores) { // a real GPU: its driver compiled at createComputePipeline
    for (const k of fresh) s.ready.add(k.pipeline);
    return;
  }
  const t0 = performance.now();
  // one queue, longest WGSL first (its length stands in for compile time; taken when the pipeline was made, since a
  // second bundle of this module in a page has no WGSL provider of its own), which every device takes from
  const queue = [...fresh].sort((a, b) => b.wgslLength - a.wgslLength);
  let done = 0;
  const tick = () => g.onCompile?.(++done, fresh.length, performance.now() - t0);
  const fromHelpers: Kernel[] = [];
  const work = async (device: GPUDevice, i: number, first?: () => void): Promise<void> => {
    for (let k = queue.shift(); k; k = queue.shift()) {
      const tk = performance.now();
      if (i === 0) await warmDispatch(g, device, k.pipeline, k.layout, k);
      else if (await warmOnHelper(g, device, k)) fromHelpers.push(k);
      else await warmDispatch(g, g.device, k.pipeline, k.layout, k);
      if (LOG) console.error(`compile ${(performance.now() - tk).toFixed(0)} ms dev${i} ${k.key} (${k.wgslLength} chars)`);
      tick();
      first?.();
      first = undefined;
    }
  };
  // Helpers join only once the engine's device has shown that it compiles (its first kernel is still busy after
  // afterMs): with a warm shader cache every kernel loads in milliseconds and a helper would only cost its start
  // (~0.25 s a process).
  const helping: Promise<void>[] = [];
  let firstDone = false;
  const join = () => {
    if (firstDone || !queue.length || !g.compileHelpers?.max) return;
    helping.push((async () => {
      const want = Math.min(g.compileHelpers?.max ?? 0, queue.length);
      while (s.helpers.length < want) {
        try {
          s.helpers.push(await g.compileHelpers!.open());
          s.stats.helpers++;
        } catch {
          break; // no helper: the engine's device compiles the rest
        }
      }
      await Promise.all(s.helpers.slice(0, want).map((d, j) => work(d, j + 1)));
    })());
  };
  const timer = g.compileHelpers?.max ? setTimeout(join, g.compileHelpers.afterMs ?? COMPILING_MS) : undefined;
  const main = work(g.device, 0, () => { firstDone = true; clearTimeout(timer); });
  await main;
  await Promise.all(helping);
  // what the helpers compiled, this device now loads from the shader cache (one submit)
  if (fromHelpers.length) await warmDispatch(g, g.device, null, null, ...fromHelpers);
  for (const k of fresh) s.ready.add(k.pipeline);
  s.stats.kernels += fresh.length;
  s.stats.onHelpers += fromHelpers.length;
  s.stats.ms += performance.now() - t0;
  if (g.lostMessage) throw new Error(g.lostMessage);
}

/** Compiles `k` on a helper device (its own pipeline from the same WGSL, entry and constants); false when that
 * failed (then the engine's device compiles it). Both steps hold their own validation scopes. */
async function warmOnHelper(g: GpuContext, device: GPUDevice, k: Kernel): Promise<boolean> {
  try {
    const { pipeline, layout } = await createKernelPipeline(device, k.def, k.entry, k.constants, k.key);
    await warmDispatch(g, device, pipeline, layout, k);
    return true;
  } catch {
    return false;
  }
}

/** Scratch buffers per device for dispatches that only compile: an indirect grid of zero workgroups, one storage
 * buffer per binding slot (distinct: two writable bindings may not alias), one uniform. */
const scratch = new WeakMap<GPUDevice, { indirect: GPUBuffer; storage: GPUBuffer[]; uniform: GPUBuffer }>();
const SCRATCH_BYTES = 4096;

/** One dispatch of zero workgroups of each kernel (of `pipeline`/`layout` on a helper, else of each kernel's own) in
 * one submit: the driver compiles or loads each pipeline, and nothing runs. */
async function warmDispatch(g: GpuContext, device: GPUDevice, pipeline: GPUComputePipeline | null, layout: GPUBindGroupLayout | null, ...ks: Kernel[]): Promise<void> {
  let sc = scratch.get(device);
  if (!sc) {
    const indirect = device.createBuffer({ label: 'compile: zero workgroups', size: 12, usage: GPUBufferUsage.INDIRECT | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(indirect, 0, new Uint32Array([0, 1, 1]));
    const uniform = device.createBuffer({ label: 'compile: uniform', size: SCRATCH_BYTES, usage: GPUBufferUsage.UNIFORM });
    scratch.set(device, (sc = { indirect, storage: [], uniform }));
  }
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder({ label: 'compile' });
  const pass = enc.beginComputePass({ label: 'compile' });
  for (const k of ks) {
    const kinds = Object.values(k.def.bindings);
    while (sc.storage.length < kinds.length) sc.storage.push(device.createBuffer({ label: `compile: binding ${sc.storage.length}`, size: SCRATCH_BYTES, usage: GPUBufferUsage.STORAGE }));
    const bindGroup = device.createBindGroup({
      label: `compile ${k.key}`,
      layout: layout ?? k.layout,
      entries: kinds.map((kind, binding) => ({ binding, resource: { buffer: kind === 'uniform' ? sc!.uniform : sc!.storage[binding] } })),
    });
    pass.setPipeline(pipeline ?? k.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroupsIndirect(sc.indirect, 0);
  }
  pass.end();
  // a warm-up that fails validation (a binding the scratch buffers cannot satisfy) only means the real submit
  // compiles that pipeline itself: never an error of its own
  device.queue.submit([enc.finish()]);
  await device.popErrorScope();
  await quietly(device.queue.onSubmittedWorkDone(), g);
}
