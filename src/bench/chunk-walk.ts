/**
 * The dispatches of one NIG chunk, as the engine records them, without a GPU: the engine's own plan building
 * (NigEngine's chunk plan: the model's forward plan, the backward with the conductance kernels hooked in, the
 * segment reductions) runs against a recording device that compiles nothing, keeps the bytes written to uniform
 * buffers and the buffers every bind group binds. For each dispatch the walk returns its kernel, override
 * constants, workgroups, Params values (decoded by the kernel's description) and the bytes of every storage
 * binding. The perf model (perf-model.ts) prices them; `ir-neurons doctor --tune` takes the matmul shapes from them.
 *
 * The device says it is a fallback adapter, so the autotuner stays off (every product gets the default variant),
 * and it reports GPU-class kernels with H100/H200-like limits (test/layout.test.ts uses the same kind of device).
 */
import type { Gpu } from '../gpu/device.ts';
import type { Dispatch, KernelDef } from '../gpu/pipelines.ts';
import { NigEngine } from '../ig/engine.ts';
import { BertGpu } from '../model/forward.ts';
import { defaultTarget, type BertConfig, type BertWeights, type LayerWeights, type Target, type Tensor } from '../model/types.ts';

/** Limits of an H100/H200 through Dawn (the engine's default budget there: 2 GiB; bindings up to 4 GiB − 4). */
export const GPU_LIMITS: Record<string, number> = {
  maxStorageBufferBindingSize: 4294967292, maxBufferSize: 4294967296, minStorageBufferOffsetAlignment: 256, minUniformBufferOffsetAlignment: 256,
  maxComputeWorkgroupsPerDimension: 65535, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024, maxComputeWorkgroupSizeZ: 64, maxStorageBuffersPerShaderStage: 10,
  maxUniformBufferBindingSize: 65536, maxBindGroups: 4,
};

/** One recorded dispatch. */
export interface WalkedDispatch {
  label: string;
  kernel: string;                               // the description's name, e.g. 'matmul/matmul[v4_64x64x8_4x4]'
  constants: Record<string, number | boolean>;  // its override constants and, for a template's variant, its values
  workgroups: [number, number, number];
  params: Record<string, number | number[]>;    // the Params uniform, decoded
  bytes: Record<string, number>;                // storage binding name → bytes bound (the view's size)
  access: Record<string, 'read' | 'rw'>;        // storage binding name → intent
}

interface RecBuffer { size: number; label: string; usage: number; data?: Uint8Array; destroy(): void }
interface RecEntry { binding: number; resource: { buffer: RecBuffer; offset?: number; size?: number } }

const UNIFORM = 64; // GPUBufferUsage.UNIFORM

/** WebGPU's flag constants where no device was opened in this process (values of the spec). */
function ensureWebGpuConstants(): void {
  const g0 = globalThis as Record<string, unknown>;
  g0.GPUBufferUsage ??= { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 };
  g0.GPUShaderStage ??= { VERTEX: 1, FRAGMENT: 2, COMPUTE: 4 };
  g0.GPUMapMode ??= { READ: 1, WRITE: 2 };
}

/** A device that compiles nothing, keeps uniform bytes and bind group entries, and runs GPU-class kernels. */
export function recordingGpu(limits: Record<string, number> = GPU_LIMITS): Gpu {
  ensureWebGpuConstants();
  const device = {
    createBuffer: (d: { label?: string; size: number; usage: number }): RecBuffer => ({ size: d.size, label: d.label ?? '', usage: d.usage, destroy() {} }),
    createBindGroup: (d: { entries: RecEntry[] }) => ({ entries: d.entries }),
    createBindGroupLayout: () => ({}), createPipelineLayout: () => ({}), createShaderModule: () => ({}), createComputePipeline: () => ({}),
    pushErrorScope() {}, popErrorScope: async () => null,
    queue: {
      writeBuffer(b: RecBuffer, off: number, src: ArrayBuffer | ArrayBufferView) {
        if (!(b.usage & UNIFORM)) return; // weights and inputs: nothing reads them here
        const bytes = ArrayBuffer.isView(src) ? new Uint8Array(src.buffer, src.byteOffset, src.byteLength) : new Uint8Array(src);
        (b.data ??= new Uint8Array(b.size)).set(bytes, off);
      },
      submit() {}, onSubmittedWorkDone: async () => {},
    },
    createCommandEncoder: () => ({ clearBuffer() {}, copyBufferToBuffer() {}, finish: () => ({}) }),
    lost: new Promise(() => {}),
    features: new Set<string>(),
  };
  const pipelines = {
    compiled: 0, createMs: 0, keys: () => [],
    get: async (def: KernelDef, opts: { entry?: string; constants?: Record<string, number | boolean> } = {}) =>
      ({ key: def.shader, label: def.shader, pipeline: {}, layout: {}, def, entry: opts.entry ?? def.entries[0], constants: opts.constants ?? {}, wgslLength: 0 }),
  };
  return {
    device, limits, features: [], kernels: 'gpu', pipelines, keepAlive: [], sharesHostCores: false,
    adapterInfo: { vendor: 'recording', architecture: '', device: 'chunk walk', description: 'no GPU (records dispatches)', isFallbackAdapter: true },
  } as unknown as Gpu;
}

/** The Params values of a recorded uniform buffer, by the kernel's description. */
function decodeParams(def: KernelDef, b: RecBuffer | undefined): Record<string, number | number[]> {
  const out: Record<string, number | number[]> = {};
  if (!b?.data) return out;
  const ab = b.data.buffer.slice(b.data.byteOffset, b.data.byteOffset + b.data.byteLength);
  const dv = { u32: new Uint32Array(ab), i32: new Int32Array(ab), f32: new Float32Array(ab) };
  for (const f of def.layout.fields) {
    const scalar = f.type.replace(/^vec\d<(\w+)>$/, '$1') as keyof typeof dv;
    const xs = Array.from(dv[scalar].subarray(f.offset / 4, f.offset / 4 + f.size / 4));
    out[f.name] = xs.length === 1 ? xs[0] : xs;
  }
  return out;
}

/** What a recorded dispatch ran and bound. */
export function walked(d: Dispatch): WalkedDispatch {
  const def = d.kernel.def;
  const entries = (d.bindGroup as unknown as { entries: RecEntry[] }).entries;
  const names = Object.keys(def.bindings);
  const bytes: Record<string, number> = {}, access: Record<string, 'read' | 'rw'> = {};
  let uniform: RecBuffer | undefined;
  for (const e of entries) {
    const name = names[e.binding], kind = def.bindings[name];
    if (kind === 'uniform') { uniform = e.resource.buffer; continue; }
    bytes[name] = e.resource.size ?? e.resource.buffer.size;
    access[name] = kind;
  }
  return { label: d.label, kernel: def.name, constants: { ...d.kernel.def.variant?.values, ...d.kernel.constants }, workgroups: [...d.workgroups], params: decodeParams(def, uniform), bytes, access };
}

/** Zero weights of a shape (one shared zero array per size: nothing reads them). */
export function zeroBert(cfg: BertConfig): BertWeights {
  const zeros = new Map<number, Float32Array>();
  const t = (...shape: number[]): Tensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (!zeros.has(n)) zeros.set(n, new Float32Array(n));
    return { shape, data: zeros.get(n)! };
  };
  const { hidden: C, intermediate: F } = cfg;
  const layer = (): LayerWeights => ({
    qW: t(C, C), qB: t(C), kW: t(C, C), kB: t(C), vW: t(C, C), vB: t(C), aoW: t(C, C), aoB: t(C), ln1G: t(C), ln1B: t(C),
    iW: t(F, C), iB: t(F), oW: t(C, F), oB: t(C), ln2G: t(C), ln2B: t(C),
  });
  return {
    config: cfg, wordEmb: t(cfg.vocabSize, C), posEmb: t(cfg.maxPositions, C), typeEmb: t(2, C), embLnG: t(C), embLnB: t(C),
    layers: Array.from({ length: cfg.layers }, layer), poolW: t(C, C), poolB: t(C), clsW: t(cfg.numLabels, C), clsB: t(cfg.numLabels),
  };
}

/** The shapes of bench/nig.ts and the PyTorch peers: (layers, hidden, heads, d_ff). */
export const BENCH_SHAPES = { tiny: [2, 128, 2, 512], minilm: [6, 384, 12, 1536], base: [12, 768, 12, 3072], large: [24, 1024, 16, 4096] } as const;
export type BenchShape = keyof typeof BENCH_SHAPES;

export function benchConfig(shape: BenchShape, numLabels = 2): BertConfig {
  const [layers, hidden, heads, intermediate] = BENCH_SHAPES[shape];
  return { vocabSize: 64, hidden, layers, heads, intermediate, maxPositions: 512, typeVocab: 2, eps: 1e-12, numLabels, padTokenId: 0 };
}

const SPECIAL = { clsId: 2, sepId: 3, padId: 0, maskId: 4, unkId: 1 };

/** One NIG chunk of P path points of one pair at T tokens: `chunk` runs once per chunk (forward, backward, conductance),
 * `pair` once per pair (the segment reductions). */
export interface ChunkWalk { cfg: BertConfig; T: number; P: number; chunk: WalkedDispatch[]; pair: WalkedDispatch[] }

export async function walkChunk(cfg: BertConfig, T: number, P: number, target: Target = defaultTarget(cfg.numLabels)): Promise<ChunkWalk> {
  const g = recordingGpu();
  // the recording device runs nothing, so it must never tune, even where IR_NEURONS_TUNE=1 forces tuning on
  // software adapters (it says it is one): the variable is 0 while the plan is built (nothing else builds meanwhile)
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
  const tune = env.IR_NEURONS_TUNE;
  env.IR_NEURONS_TUNE = '0';
  try {
    const eng = new NigEngine(await BertGpu.create(g, zeroBert(cfg)), SPECIAL, 2 ** 45);
    const at = await eng.chunkDispatches(T, P, target);
    return { cfg, T, P, chunk: at.chunk.map(walked), pair: at.pair.map(walked) };
  } finally {
    if (tune === undefined) delete env.IR_NEURONS_TUNE; else env.IR_NEURONS_TUNE = tune;
  }
}

/** The GPU-class matmul: a variant of shaders/matmul/matmul.wgsl, e.g. 'matmul/matmul[v4_64x64x8_4x4]'. */
export const isMatmul = (kernel: string) => /^matmul\/matmul\[\w+\]$/.test(kernel);

/** The distinct matmul products of a walk (GPU-class matmul kernels), for the tuner. */
export function matmulShapes(w: WalkedDispatch[]): { M: number; N: number; K: number; transB: boolean; epilogue: 'none' | 'ffn-up' | 'ffn-down-back' | 'add' }[] {
  const EPI = ['none', 'ffn-up', 'ffn-down-back', 'add'] as const;
  const seen = new Map<string, ReturnType<typeof matmulShapes>[number]>();
  for (const d of w) {
    if (!isMatmul(d.kernel)) continue;
    const s = { M: d.params.M as number, N: d.params.N as number, K: d.params.K as number, transB: !!d.constants.TRANS_B, epilogue: EPI[Number(d.constants.EPI ?? 0)] };
    seen.set(JSON.stringify(s), s);
  }
  return [...seen.values()];
}
