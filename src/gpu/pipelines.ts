/**
 * Compute pipelines cached by (shader file, entry point, override constants) — never by sizes, which
 * travel in a uniform — with explicit bind group layouts (storage bindings first, one uniform last).
 * Kernels *describe* dispatches ({label, pipeline, bindGroup, workgroups}); `encodeDispatches` is the
 * one loop that records them.
 */
import type { Gpu } from './device.ts';
import { shaderSource } from './shaders.ts';
import type { View } from './arena.ts';

export type BindingKind = 'read' | 'rw' | 'uniform';

export interface KernelDef {
  shader: string;                              // path under shaders/, e.g. 'matmul/matmul.wgsl'
  entry?: string;                              // default 'main'
  bindings: BindingKind[];                     // binding i has kind bindings[i]
  constants?: Record<string, number | boolean>;
}

export interface Kernel {
  key: string;
  label: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  def: KernelDef;
}

export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

function keyOf(def: KernelDef): string {
  const consts = Object.entries(def.constants ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return `${def.shader}#${def.entry ?? 'main'}${consts.length ? '?' + consts.map(([k, v]) => `${k}=${Number(v)}`).join('&') : ''}`;
}

/** The WGSL the driver compiles: the file with each chosen override constant written in. */
export function finalWgsl(def: KernelDef): string {
  let src = shaderSource(def.shader);
  for (const [name, v] of Object.entries(def.constants ?? {})) {
    src = src.replace(new RegExp(`override\\s+${name}\\s*:\\s*(\\w+)\\s*=\\s*[^;]+;`), (_m, ty) => `override ${name}: ${ty} = ${typeof v === 'boolean' ? v : ty === 'f32' ? `${v}f` : ty === 'u32' ? `${v}u` : v}; // set by the pipeline`);
  }
  return src;
}

export class PipelineCache {
  private kernels = new Map<string, Promise<Kernel>>();
  compiled = 0;
  constructor(private g: Gpu, private printWgsl: boolean) {}

  get(def: KernelDef): Promise<Kernel> {
    const key = keyOf(def);
    let k = this.kernels.get(key);
    if (!k) {
      k = this.create(def, key);
      this.kernels.set(key, k);
    }
    return k;
  }

  private async create(def: KernelDef, key: string): Promise<Kernel> {
    const { device } = this.g;
    if (this.g.lostMessage) throw new Error(this.g.lostMessage);
    const code = shaderSource(def.shader);
    if (this.printWgsl) console.error(`// ===== ${key} =====\n${finalWgsl(def)}`);
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: def.shader, code });
    const layout = device.createBindGroupLayout({
      label: `${key} layout`,
      entries: def.bindings.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        // 'read' bindings use the writable 'storage' type too: arena views share buffers, and WebGPU forbids a buffer
        // being read-only and writable in one dispatch even over disjoint ranges (one usage, 'storage', is allowed).
        buffer: { type: kind === 'uniform' ? 'uniform' : 'storage' },
      })),
    });
    const err = await device.popErrorScope();
    if (err) throw new Error(`WGSL ${def.shader} failed to compile: ${err.message}`);
    let pipeline: GPUComputePipeline;
    device.pushErrorScope('validation');
    try {
      // The synchronous form: Dawn's Node binding aborts the process on createComputePipelineAsync here.
      pipeline = device.createComputePipeline({
        label: key,
        layout: device.createPipelineLayout({ label: `${key} pipeline layout`, bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: def.entry ?? 'main', constants: Object.fromEntries(Object.entries(def.constants ?? {}).map(([k, v]) => [k, Number(v)])) },
      });
      const perr = await device.popErrorScope();
      if (perr) throw new Error(perr.message);
    } catch (e) {
      const info = await module.getCompilationInfo?.();
      const msgs = info?.messages?.map((m) => `${def.shader}:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`).join('\n') ?? '';
      throw new Error(`pipeline ${key} could not be created: ${(e as Error).message}\n${msgs}`);
    }
    this.compiled++;
    return { key, label: key, pipeline, layout, def };
  }
}

/** A uniform buffer of u32 fields followed by f32 fields (matching a WGSL `Params` struct in that order). */
export function uniform(g: Gpu, label: string, u32s: number[], f32s: number[] = []): GPUBuffer {
  const n = Math.max(4, Math.ceil((u32s.length + f32s.length) / 4) * 4);
  const ab = new ArrayBuffer(n * 4);
  const u = new Uint32Array(ab);
  const f = new Float32Array(ab);
  u32s.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uniform ${label}: field ${i} = ${v} is not a u32`);
    u[i] = v;
  });
  f32s.forEach((v, i) => { f[u32s.length + i] = v; });
  const buf = g.device.createBuffer({ label, size: ab.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  g.device.queue.writeBuffer(buf, 0, ab);
  return buf;
}

/** A distinct 16-byte buffer per binding slot, bound where a kernel variant does not use the binding
 * (distinct, because two writable bindings may not alias). */
function unused(g: Gpu, binding: number): GPUBuffer {
  const d = (g as Gpu & { unusedBuffers?: GPUBuffer[] }).unusedBuffers ??= [];
  while (d.length <= binding) d.push(g.device.createBuffer({ label: `unused binding ${d.length}`, size: 16, usage: GPUBufferUsage.STORAGE }));
  return d[binding];
}

/** Describes one dispatch: binds `resources` (views, uniform buffers, or null for unused) in binding order. */
export function dispatch(g: Gpu, k: Kernel, label: string, resources: (View | GPUBuffer | null | undefined)[], workgroups: [number, number?, number?]): Dispatch {
  if (resources.length !== k.def.bindings.length) throw new Error(`${label}: ${resources.length} resources for ${k.def.bindings.length} bindings of ${k.key}`);
  const bindGroup = g.device.createBindGroup({
    label,
    layout: k.layout,
    entries: resources.map((r, binding) => ({
      binding,
      resource: !r ? { buffer: unused(g, binding) } : 'buffer' in r ? { buffer: r.buffer, offset: r.offset, size: r.size } : { buffer: r },
    })),
  });
  const [x, y = 1, z = 1] = workgroups;
  const max = g.limits.maxComputeWorkgroupsPerDimension;
  if (x > max || y > max || z > max) throw new Error(`${label}: ${x}x${y}x${z} workgroups exceed the limit ${max}`);
  return { label, pipeline: k.pipeline, bindGroup, workgroups: [x, y, z] };
}

/** Splits n workgroups over x and y so that neither exceeds the per-dimension limit. */
export function grid(g: Gpu, n: number): [number, number] {
  const max = g.limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [Math.max(1, n), 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}

/** The one loop that records dispatches: one compute pass, in order. */
export function encodeDispatches(enc: GPUCommandEncoder, ds: Dispatch[], label = 'kernels'): void {
  const pass = enc.beginComputePass({ label });
  for (const d of ds) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
  pass.end();
}

export function submit(g: Gpu, ds: Dispatch[], label = 'kernels'): void {
  if (g.lostMessage) throw new Error(g.lostMessage);
  const enc = g.device.createCommandEncoder({ label });
  encodeDispatches(enc, ds, label);
  g.device.queue.submit([enc.finish()]);
}
