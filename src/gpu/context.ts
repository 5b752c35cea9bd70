/**
 * What the GPU runtime (pipelines, arena) needs of a device: the device, its limits and features, and whether it
 * was lost. src/gpu/device.ts's `Gpu` extends it; this module imports nothing, so pipelines and arena do not
 * import device.ts (which imports them).
 */
import { UserError } from '../util/errors.ts';

/** A named byte range of a buffer: what kernels bind (made by src/gpu/arena.ts). */
export interface View {
  name: string;
  buffer: GPUBuffer;
  offset: number; // bytes
  size: number;   // bytes
}

export interface GpuContext {
  device: GPUDevice;
  features: string[];
  limits: Record<string, number>;
  /** Set when the device is lost; every later use throws with this message. */
  lostMessage?: string;
  /** The adapter runs its work on the host's own cores (a software rasteriser: lavapipe, SwiftShader, WARP), so a
   * host that busy-polls takes a core from it; src/gpu/wait.ts then awaits quietly. Unset: a real GPU. */
  sharesHostCores?: boolean;
  /** Extra devices of the same adapter that compile pipelines in parallel with this one (src/gpu/compile.ts), where
   * the driver compiles at first dispatch and shares an on-disk cache between devices (Mesa's lavapipe in Node):
   * at most `max` of them, opened by `open` when first needed, joining a round once this device's first kernel took
   * `afterMs` (default 150: compiled, not loaded from the cache). Absent: compile on this device alone. */
  compileHelpers?: { max: number; open(): Promise<GPUDevice>; afterMs?: number };
  /** Told how compiling goes: `done` of `total` kernels, `ms` since this round began (a progress line in the CLI). */
  onCompile?: (done: number, total: number, ms: number) => void;
}

/** Runs `fn` inside validation and out-of-memory error scopes; throws a readable error naming `what`. */
export async function withErrorScope<T>(g: GpuContext, what: string, fn: () => T): Promise<T> {
  if (g.lostMessage) throw new Error(g.lostMessage);
  g.device.pushErrorScope('out-of-memory');
  g.device.pushErrorScope('validation');
  const value = fn();
  const validation = await g.device.popErrorScope();
  const oom = await g.device.popErrorScope();
  if (oom) throw new UserError(`out of GPU memory while creating ${what}: ${oom.message}; lower --max-memory or the batch size`);
  if (validation) throw new Error(`WebGPU validation error in ${what}: ${validation.message}`);
  return value;
}
