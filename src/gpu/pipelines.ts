/**
 * Kernels as typed descriptions, and the pipelines, uniforms and dispatches made from them.
 *
 * A `KernelDef` (made by `defineKernel`) is a kernel's contract with its WGSL file: its bindings by WGSL variable
 * name in @binding order with their intent (storage 'read' or 'rw'; the one `var<uniform>` last), and the fields of
 * its `Params` struct with their WGSL types, in declaration order. Uniforms are packed from named fields by WGSL's
 * uniform layout rules (`packParams`); dispatches take resources by name (`dispatch`), checked against the
 * description. test/kernel-wgsl.test.ts checks every description against its .wgsl file.
 *
 * A kernel family with variants (lanes, rows per workgroup, subgroups or not) is one template under shaders/ and a
 * table of its variants (`defineVariants`): each variant is a description of its own, whose WGSL is the template
 * expanded with the variant's values where it is loaded (src/gpu/template.ts, src/gpu/shaders.ts).
 *
 * Compute pipelines are cached by (shader file and variant, entry point, override constants) — never by sizes, which
 * travel in the uniform — with explicit bind group layouts. Kernels *describe* dispatches ({label, pipeline,
 * bindGroup, workgroups}); `encodeDispatches` is the one loop that records them.
 */
import { shaderSource } from './shaders.ts';
import type { TemplateValues } from './template.ts';
import type { GpuContext, View } from './context.ts';

// ---------- descriptions ----------
export type Access = 'read' | 'rw' | 'uniform';
type Scalar = 'u32' | 'i32' | 'f32';
export type WgslType = Scalar | `vec${2 | 3 | 4}<${Scalar}>`;

/** One row of a family's variant table (src/gpu/template.ts). */
export interface Variant { readonly name: string; readonly values: TemplateValues }

export interface ParamField { name: string; type: WgslType; offset: number; size: number; align: number }
export interface ParamsLayout {
  fields: ParamField[];
  size: number;   // the WGSL struct's size (SizeOf)
  bytes: number;  // the uniform buffer's size: size rounded up to 16 (at least 16)
}

export interface KernelDef<B extends Record<string, Access> = Record<string, Access>, P extends Record<string, WgslType> = Record<string, WgslType>> {
  /** How messages name the kernel: the shader path without '.wgsl', e.g. 'attention/attention_forward', and a
   * variant's name in brackets, e.g. 'matmul/matmul_cpu[sg4]'. */
  readonly name: string;
  /** Path under shaders/ (of the template, for a variant). */
  readonly shader: string;
  /** A template's variant: its name in the family's table and the values written into the template. */
  readonly variant?: Variant;
  /** Its `@compute` entry points (default ['main']). */
  readonly entries: readonly string[];
  /** WGSL variable name → intent, in @binding order (group 0); the uniform last. */
  readonly bindings: B;
  /** The uniform's `Params` struct: field name → WGSL type, in declaration order. */
  readonly params: P;
  readonly layout: ParamsLayout;
}

/** The resources of one dispatch, by binding name: a view (or null/undefined: an unused binding) per storage
 * binding, the uniform buffer (from `createParams`) for the uniform. */
export type Resources<B extends Record<string, Access>> = { [K in keyof B]: B[K] extends 'uniform' ? GPUBuffer : View | null | undefined };
/** A value for every field of `Params`: a number for a scalar, an array for a vector. */
export type ParamValues<P extends Record<string, WgslType>> = { [K in keyof P]: P[K] extends `vec${string}` ? readonly number[] : number };

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Size and alignment of a uniform-buffer type (WGSL §"Alignment and Size"). */
function sizeAlign(t: WgslType): { size: number; align: number } {
  const m = /^vec([234])</.exec(t);
  if (!m) return { size: 4, align: 4 };
  const n = Number(m[1]);
  return { size: 4 * n, align: n === 2 ? 8 : 16 };
}
const roundUp = (k: number, n: number) => Math.ceil(n / k) * k;

/** Offsets of `params`' fields, the struct's size, and the buffer size, by WGSL's layout rules. */
export function paramsLayout(params: Record<string, WgslType>): ParamsLayout {
  const fields: ParamField[] = [];
  let end = 0, structAlign = 4;
  for (const [name, type] of Object.entries(params)) {
    const { size, align } = sizeAlign(type);
    const offset = roundUp(align, end);
    fields.push({ name, type, offset, size, align });
    end = offset + size;
    structAlign = Math.max(structAlign, align);
  }
  const size = roundUp(structAlign, end);
  return { fields, size, bytes: Math.max(16, roundUp(16, size)) };
}

/**
 * A kernel's description. Binding and field names are the WGSL identifiers (so never integer-like, and an object
 * literal keeps their order). Throws when the uniform is missing, not last, or not alone.
 */
export function defineKernel<const B extends Record<string, Access>, const P extends Record<string, WgslType>>(d: {
  shader: string; entries?: readonly string[]; bindings: B; params: P; variant?: Variant;
}): KernelDef<B, P> {
  const name = d.shader.replace(/\.wgsl$/, '') + (d.variant ? `[${d.variant.name}]` : '');
  const names = Object.keys(d.bindings);
  const uniforms = names.filter((n) => d.bindings[n] === 'uniform');
  if (uniforms.length !== 1 || d.bindings[names[names.length - 1]] !== 'uniform') {
    throw new Error(`kernel ${name}: bindings ${names.map((n) => `${n}:${d.bindings[n]}`).join(', ')} must end in exactly one uniform (the Params struct)`);
  }
  for (const n of [...names, ...Object.keys(d.params), ...(d.entries ?? [])]) {
    if (!IDENT.test(n)) throw new Error(`kernel ${name}: '${n}' is not a WGSL identifier`);
  }
  if (d.variant && !IDENT.test(d.variant.name)) throw new Error(`kernel ${name}: variant name '${d.variant.name}' is not an identifier`);
  return {
    name, shader: d.shader, ...(d.variant ? { variant: d.variant } : {}),
    entries: d.entries ?? ['main'], bindings: d.bindings, params: d.params, layout: paramsLayout(d.params),
  };
}

/**
 * A family's variants: one description per row of `table` (variant name → the template's values), all with the
 * same bindings and params, each the template `d.shader` expanded with its row where it is loaded. The table is the
 * one list of the family's variants: test/kernel-wgsl.test.ts checks each against its description and compiles it.
 */
export function defineVariants<const V extends Record<string, TemplateValues>, const B extends Record<string, Access>, const P extends Record<string, WgslType>>(
  d: { shader: string; entries?: readonly string[]; bindings: B; params: P }, table: V,
): { readonly [K in keyof V]: KernelDef<B, P> } {
  return Object.fromEntries(Object.entries(table).map(([name, values]) => [name, defineKernel({ ...d, variant: { name, values } })])) as { [K in keyof V]: KernelDef<B, P> };
}

/** A kernel's WGSL as the driver gets it: its file, or its template's variant, with includes inlined. */
export function kernelWgsl(def: KernelDef): string {
  return shaderSource(def.shader, def.variant?.values);
}

/** The shader as messages and pipeline keys name it: the path, and a variant's name in brackets. */
const shaderName = (def: KernelDef) => (def.variant ? `${def.shader}[${def.variant.name}]` : def.shader);

// ---------- uniforms ----------
/** The `Params` bytes for `values` (every field named, none extra), laid out as `def.layout` says. */
export function packParams<P extends Record<string, WgslType>>(def: KernelDef<Record<string, Access>, P>, values: ParamValues<P>): ArrayBuffer {
  const vals = values as Record<string, number | readonly number[]>;
  const { fields, bytes } = def.layout;
  const extra = Object.keys(vals).filter((n) => !(n in def.params));
  const missing = fields.filter((f) => !(f.name in vals)).map((f) => f.name);
  if (extra.length || missing.length) {
    throw new Error(`kernel ${def.name}: Params has fields ${fields.map((f) => f.name).join(', ')}; ${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unknown ${extra.join(', ')}` : ''].filter(Boolean).join('; ')} — pass exactly these names`);
  }
  const ab = new ArrayBuffer(bytes);
  const dv = { u32: new Uint32Array(ab), i32: new Int32Array(ab), f32: new Float32Array(ab) };
  for (const f of fields) {
    const scalar = f.type.replace(/^vec\d<(\w+)>$/, '$1') as Scalar;
    const n = f.size / 4;
    const v = vals[f.name];
    const xs = typeof v === 'number' ? [v] : v;
    if (xs.length !== n || (n === 1) !== (typeof v === 'number')) throw new Error(`kernel ${def.name}: Params.${f.name} is ${f.type}, given ${JSON.stringify(v)}`);
    xs.forEach((x, i) => {
      const ok = scalar === 'f32' ? typeof x === 'number'
        : Number.isInteger(x) && (scalar === 'u32' ? x >= 0 && x <= 0xffffffff : x >= -0x80000000 && x <= 0x7fffffff);
      if (!ok) throw new Error(`kernel ${def.name}: Params.${f.name} = ${x} is not a ${scalar}`);
      dv[scalar][f.offset / 4 + i] = x;
    });
  }
  return ab;
}

/** A uniform buffer holding `values`, sized for the kernel's `Params`. */
export function createParams<P extends Record<string, WgslType>>(g: GpuContext, def: KernelDef<Record<string, Access>, P>, label: string, values: ParamValues<P>): GPUBuffer {
  const ab = packParams(def, values);
  const buf = g.device.createBuffer({ label, size: ab.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  g.device.queue.writeBuffer(buf, 0, ab);
  return buf;
}

/** Rewrites a uniform made by `createParams` for the same kernel (e.g. per chunk). */
export function writeParams<P extends Record<string, WgslType>>(g: GpuContext, def: KernelDef<Record<string, Access>, P>, buf: GPUBuffer, values: ParamValues<P>): void {
  const ab = packParams(def, values);
  if (buf.size < ab.byteLength) throw new Error(`kernel ${def.name}: uniform '${buf.label}' holds ${buf.size} bytes, Params needs ${ab.byteLength}; create it with createParams for this kernel`);
  g.device.queue.writeBuffer(buf, 0, ab);
}

// ---------- pipelines ----------
export interface PipelineOptions {
  entry?: string;                               // default: the description's first entry
  constants?: Record<string, number | boolean>; // override constants
}

export interface Kernel<D extends KernelDef = KernelDef> {
  key: string;
  label: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  def: D;
  entry: string;
  constants: Record<string, number | boolean>;
  /** Its WGSL's length (with includes): src/gpu/compile.ts takes it for the compile time. */
  wgslLength: number;
}

export interface Dispatch {
  label: string;
  /** What runs: its pipeline, and what src/gpu/compile.ts needs to compile it before the dispatch is submitted. */
  kernel: Kernel;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

function keyOf(def: KernelDef, entry: string, constants: Record<string, number | boolean>): string {
  const consts = Object.entries(constants).sort(([a], [b]) => (a < b ? -1 : 1));
  return `${shaderName(def)}#${entry}${consts.length ? '?' + consts.map(([k, v]) => `${k}=${Number(v)}`).join('&') : ''}`;
}

/** The WGSL the driver compiles: the file with each chosen override constant written in. */
export function finalWgsl(def: KernelDef, constants: Record<string, number | boolean> = {}): string {
  let src = kernelWgsl(def);
  for (const [name, v] of Object.entries(constants)) {
    src = src.replace(new RegExp(`override\\s+${name}\\s*:\\s*(\\w+)\\s*=\\s*[^;]+;`), (_m, ty) => `override ${name}: ${ty} = ${typeof v === 'boolean' ? v : ty === 'f32' ? `${v}f` : ty === 'u32' ? `${v}u` : v}; // set by the pipeline`);
  }
  return src;
}

/** A kernel's bind group layout on `device`: one storage or uniform buffer per binding, in order. */
export function bindGroupLayoutOf(device: GPUDevice, def: KernelDef, label: string): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    label,
    entries: Object.values(def.bindings).map((kind, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      // 'read' bindings use the writable 'storage' type too: arena views share buffers, and WebGPU forbids a buffer
      // being read-only and writable in one dispatch even over disjoint ranges (one usage, 'storage', is allowed).
      buffer: { type: kind === 'uniform' ? 'uniform' : 'storage' },
    })),
  });
}

/** Creates `def`'s pipeline on `device` (the engine's device, or a compile helper's: src/gpu/compile.ts), with
 * readable errors. The same (shader, entry, constants) gives the same driver input on every device. */
export async function createKernelPipeline(device: GPUDevice, def: KernelDef, entry: string, constants: Record<string, number | boolean>, key: string, printWgsl = false): Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }> {
  const code = kernelWgsl(def);
  if (printWgsl) console.error(`// ===== ${key} =====\n${finalWgsl(def, constants)}`);
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: shaderName(def), code });
  const layout = bindGroupLayoutOf(device, def, `${key} layout`);
  const err = await device.popErrorScope();
  if (err) throw new Error(`WGSL ${shaderName(def)} failed to compile: ${err.message}`);
  device.pushErrorScope('validation');
  try {
    // The synchronous form: Dawn's Node binding aborts the process on createComputePipelineAsync here.
    const pipeline = device.createComputePipeline({
      label: key,
      layout: device.createPipelineLayout({ label: `${key} pipeline layout`, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: entry, constants: Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, Number(v)])) },
    });
    const perr = await device.popErrorScope();
    if (perr) throw new Error(perr.message);
    return { pipeline, layout };
  } catch (e) {
    const info = await module.getCompilationInfo?.();
    const msgs = info?.messages?.map((m) => `${shaderName(def)}:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`).join('\n') ?? '';
    throw new Error(`pipeline ${key} could not be created: ${(e as Error).message}\n${msgs}`);
  }
}

/** The pipelines of one device, each (shader, entry, override constants) created once per process. */
export class PipelineCache {
  private kernels = new Map<string, Promise<Kernel>>();
  /** Pipelines created, and the milliseconds their creation took (on lavapipe the LLVM compile comes at first
   * dispatch instead: src/gpu/compile.ts counts that). */
  compiled = 0;
  createMs = 0;
  constructor(private g: GpuContext, private printWgsl: boolean) {}

  /** The pipelines asked for so far on this device (shader#entry?constants, sorted): the kernels, forms and variants
   * the process used, for the run's manifest. */
  keys(): string[] {
    return [...this.kernels.keys()].sort();
  }

  get<D extends KernelDef>(def: D, opts: PipelineOptions = {}): Promise<Kernel<D>> {
    const entry = opts.entry ?? def.entries[0];
    if (!def.entries.includes(entry)) throw new Error(`kernel ${def.name} has entry points ${def.entries.join(', ')}, not '${entry}'`);
    const constants = opts.constants ?? {};
    const key = keyOf(def, entry, constants);
    let k = this.kernels.get(key);
    if (!k) {
      k = this.create(def, entry, constants, key);
      this.kernels.set(key, k);
    }
    return k as Promise<Kernel<D>>;
  }

  private async create(def: KernelDef, entry: string, constants: Record<string, number | boolean>, key: string): Promise<Kernel> {
    if (this.g.lostMessage) throw new Error(this.g.lostMessage);
    const t0 = performance.now();
    const { pipeline, layout } = await createKernelPipeline(this.g.device, def, entry, constants, key, this.printWgsl);
    this.createMs += performance.now() - t0;
    this.compiled++;
    return { key, label: key, pipeline, layout, def, entry, constants, wgslLength: kernelWgsl(def).length };
  }
}

// ---------- dispatches ----------
/** Distinct 16-byte buffers per binding slot and device, bound where a kernel variant does not use the binding
 * (distinct, because two writable bindings may not alias). */
const unusedByDevice = new WeakMap<GPUDevice, GPUBuffer[]>();
function unused(g: GpuContext, binding: number): GPUBuffer {
  let d = unusedByDevice.get(g.device);
  if (!d) unusedByDevice.set(g.device, (d = []));
  while (d.length <= binding) d.push(g.device.createBuffer({ label: `unused binding ${d.length}`, size: 16, usage: GPUBufferUsage.STORAGE }));
  return d[binding];
}

/** Describes one dispatch of `k`, binding `resources` by name: exactly the description's names, none extra. */
export function dispatch<D extends KernelDef>(g: GpuContext, k: Kernel<D>, label: string, resources: Resources<D['bindings']>, workgroups: [number, number?, number?]): Dispatch {
  const def = k.def;
  const res = resources as Record<string, View | GPUBuffer | null | undefined>;
  const names = Object.keys(def.bindings);
  const missing = names.filter((n) => !(n in res));
  const extra = Object.keys(res).filter((n) => !(n in def.bindings));
  if (missing.length || extra.length) {
    throw new Error(`${label}: kernel ${def.name} binds ${names.join(', ')}; ${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unknown ${extra.join(', ')}` : ''].filter(Boolean).join('; ')} — pass exactly these names (null for an unused storage binding)`);
  }
  const bindGroup = g.device.createBindGroup({
    label,
    layout: k.layout,
    entries: names.map((n, binding) => {
      const r = res[n];
      if (def.bindings[n] === 'uniform' && (!r || 'buffer' in r)) throw new Error(`${label}: kernel ${def.name}'s uniform '${n}' needs the buffer from createParams, got ${r ? 'a view' : 'nothing'}`);
      return { binding, resource: !r ? { buffer: unused(g, binding) } : 'buffer' in r ? { buffer: r.buffer, offset: r.offset, size: r.size } : { buffer: r } };
    }),
  });
  const [x, y = 1, z = 1] = workgroups;
  const max = g.limits.maxComputeWorkgroupsPerDimension;
  if (x > max || y > max || z > max) throw new Error(`${label}: ${x}x${y}x${z} workgroups exceed the limit ${max}`);
  return { label, kernel: k as unknown as Kernel, bindGroup, workgroups: [x, y, z] };
}

/** Splits n workgroups over x and y so that neither exceeds the per-dimension limit. */
export function grid(g: GpuContext, n: number): [number, number] {
  const max = g.limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [Math.max(1, n), 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}

/** The one loop that records dispatches: one compute pass, in order. */
export function encodeDispatches(enc: GPUCommandEncoder, ds: Dispatch[], label = 'kernels'): void {
  const pass = enc.beginComputePass({ label });
  for (const d of ds) {
    pass.setPipeline(d.kernel.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
  pass.end();
}
