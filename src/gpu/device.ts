/**
 * One interface to a WebGPU device in Node (Dawn, through `webgpu`) and in a browser (`navigator.gpu`).
 * Asks for the adapter's real limits (the defaults cap storage bindings at 128 MiB), wraps creation in
 * error scopes, reports `device.lost` clearly, and keeps the pipeline cache and the debug switch.
 */
import { UserError } from '../util/errors.ts';
import type { GpuContext } from './context.ts';
import { PipelineCache } from './pipelines.ts';

export { withErrorScope, type GpuContext } from './context.ts';

export interface GpuOptions {
  /** Print the final WGSL (with override constants) of every kernel compiled. Also IR_NEURONS_PRINT_WGSL=1. */
  printWgsl?: boolean;
  powerPreference?: GPUPowerPreference;
  /**
   * 'adapter' (default): the device is opened with the adapter's limits; 'default': with the WebGPU specification's
   * default limits (no requiredLimits: 128 MiB storage binding, 256 MiB buffer, 8 storage buffers per stage, 16 KiB
   * workgroup memory, 256 invocations), as the smallest device that implements WebGPU. Also IR_NEURONS_LIMITS.
   */
  limits?: LimitsChoice;
}

export type LimitsChoice = 'adapter' | 'default';

/** The limits to open the device with: `opts.limits`, else IR_NEURONS_LIMITS (adapter | default), else 'adapter'. */
export function limitsChoice(opts: GpuOptions = {}, env = typeof process !== 'undefined' ? process.env?.IR_NEURONS_LIMITS : undefined): LimitsChoice {
  const v = opts.limits ?? (env || 'adapter');
  if (v !== 'adapter' && v !== 'default') throw new UserError(`IR_NEURONS_LIMITS is '${v}'; it must be 'adapter' (the adapter's limits, the default) or 'default' (the WebGPU specification's default limits)`);
  return v;
}

/** The runtime's context (device, features, limits, loss) plus what the rest of the program asks of a device. */
export interface Gpu extends GpuContext {
  adapterInfo: {
    vendor: string; architecture: string; device: string; description: string;
    /** Subgroup sizes the adapter reports (absent where it does not say). */
    subgroupMinSize?: number; subgroupMaxSize?: number;
    /** The adapter is a fallback (software) one, as it says. */
    isFallbackAdapter?: boolean;
  };
  /** Which kernel family the builders use (see `kernelClass`); set once when the device opens. */
  kernels: KernelClass;
  pipelines: PipelineCache;
  /** Strong references: Dawn's Node instance dies (and takes the device with it) once `create()`'s result is collected. */
  keepAlive: unknown[];
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage', 'maxUniformBufferBindingSize', 'maxBindGroups', 'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
];

export async function openGpu(gpu: GPU | undefined, opts: GpuOptions = {}): Promise<Gpu> {
  if (!gpu) throw new UserError('this environment has no WebGPU (navigator.gpu is undefined); use a browser with WebGPU enabled, or Node with the `webgpu` package');
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    const inNode = typeof process !== 'undefined' && !!process.versions?.node;
    throw new UserError(inNode
      ? 'no WebGPU adapter found; on Linux without a GPU install Mesa 25 lavapipe (`bash scripts/ensure-env.sh` does it), then run `ir-neurons doctor`'
      : 'this browser offers WebGPU but gave no adapter (GPU blocklisted or disabled); try another browser or enable WebGPU in its settings');
  }
  const requiredLimits: Record<string, number> = {};
  const limits = limitsChoice(opts);
  // 'default': ask for nothing, so the device has the specification's defaults (every WebGPU device offers them)
  if (limits === 'adapter') for (const name of LIMIT_NAMES) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const wanted: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ label: 'ir-neurons', requiredLimits, requiredFeatures });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const extra = info as unknown as { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
  const adapterInfo: Gpu['adapterInfo'] = { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '' };
  if (typeof extra.subgroupMinSize === 'number') adapterInfo.subgroupMinSize = extra.subgroupMinSize;
  if (typeof extra.subgroupMaxSize === 'number') adapterInfo.subgroupMaxSize = extra.subgroupMaxSize;
  if (typeof extra.isFallbackAdapter === 'boolean') adapterInfo.isFallbackAdapter = extra.isFallbackAdapter;
  const g: Gpu = {
    device,
    adapterInfo,
    kernels: kernelClass(adapterInfo, typeof process !== 'undefined' ? process.env?.IR_NEURONS_KERNELS : undefined),
    features: [...device.features].map(String).sort(),
    limits: Object.fromEntries(LIMIT_NAMES.map((n) => [n, (device.limits as unknown as Record<string, number>)[n]])),
    pipelines: undefined as unknown as PipelineCache,
    keepAlive: [gpu, adapter],
    sharesHostCores: isSoftwareAdapter(adapterInfo),
  };
  const envPrint = typeof process !== 'undefined' && process.env?.IR_NEURONS_PRINT_WGSL === '1';
  g.pipelines = new PipelineCache(g, opts.printWgsl || envPrint);
  device.lost.then((e) => {
    if (e.reason === 'destroyed') return;
    g.lostMessage = `the GPU device was lost (${e.reason}: ${e.message}); a driver reset or out-of-memory is the usual cause — reduce --max-memory or the batch, then rerun (finished work is kept)`;
    console.error(`ir-neurons: ${g.lostMessage}`);
  });
  device.addEventListener?.('uncapturederror', (ev: Event) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    console.error(`ir-neurons: uncaptured WebGPU error: ${err.message}`);
  });
  return g;
}

/** Another device of the same kind as `g` (same features and limits), for compiling in parallel
 * (src/gpu/compile.ts). It runs no kernels of the engine. */
export async function openHelperDevice(gpu: GPU, g: Gpu): Promise<GPUDevice> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no adapter for a compile helper');
  return adapter.requestDevice({ label: 'ir-neurons compile helper', requiredFeatures: g.features as GPUFeatureName[], requiredLimits: g.limits });
}

// ---------- the kernel class ----------
/** 'cpu': the adapter is a software rasteriser (kernels shaped for CPUs: src/kernels/matmul-cpu.ts);
 * 'gpu': anything else (the tiled, workgroup-memory family). */
export type KernelClass = 'cpu' | 'gpu';

/** Adapters that run WebGPU on the CPU: Mesa's llvmpipe/lavapipe, SwiftShader (Chromium), WARP. */
const SOFTWARE = /llvmpipe|lavapipe|swiftshader|\bwarp\b|microsoft basic render/i;

/**
 * The one selection point for kernel families: `IR_NEURONS_KERNELS=cpu|gpu` when set, else 'cpu' for a software
 * adapter (its vendor, architecture, device or description names llvmpipe, lavapipe, SwiftShader or WARP), else
 * 'gpu'. Builders read the result from `g.kernels`.
 */
/** Whether the adapter is a software rasteriser (its vendor, architecture, device or description says so). */
export function isSoftwareAdapter(info: Pick<Gpu['adapterInfo'], 'vendor' | 'architecture' | 'device' | 'description'>): boolean {
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}

export function kernelClass(info: Pick<Gpu['adapterInfo'], 'vendor' | 'architecture' | 'device' | 'description'>, env?: string): KernelClass {
  if (env !== undefined && env !== '') {
    if (env === 'cpu' || env === 'gpu') return env;
    throw new UserError(`IR_NEURONS_KERNELS is '${env}'; it must be 'cpu' (kernels for software WebGPU) or 'gpu' (unset: chosen from the adapter)`);
  }
  return isSoftwareAdapter(info) ? 'cpu' : 'gpu';
}

/** Where the kernel class came from: the IR_NEURONS_KERNELS variable, or the adapter (see `kernelClass`). */
export function kernelClassSource(): 'IR_NEURONS_KERNELS' | 'adapter' {
  return typeof process !== 'undefined' && process.env?.IR_NEURONS_KERNELS ? 'IR_NEURONS_KERNELS' : 'adapter';
}

/** The adapter as a manifest records it (src/run/environment.ts). WebGPU has no driver or backend field: Dawn's
 * Vulkan backend writes the driver's name and version into `description` (e.g. 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)').
 * `software`: the adapter says it is a fallback one, or names a software rasteriser (`isSoftwareAdapter`). */
export interface AdapterRecord {
  vendor: string; architecture: string; device: string; description: string;
  software: boolean;
  isFallbackAdapter: boolean | null;
  subgroupSizes: [number, number] | null;
  features: string[];
  limits: Record<string, number>;
}

export function adapterRecord(g: Pick<Gpu, 'adapterInfo' | 'features' | 'limits'>): AdapterRecord {
  const a = g.adapterInfo;
  return {
    vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description,
    software: a.isFallbackAdapter === true || isSoftwareAdapter(a),
    isFallbackAdapter: a.isFallbackAdapter ?? null,
    subgroupSizes: a.subgroupMinSize !== undefined ? [a.subgroupMinSize, a.subgroupMaxSize ?? a.subgroupMinSize] : null,
    features: [...g.features],
    limits: { ...g.limits },
  };
}

export function describeGpu(g: Gpu): string {
  const a = g.adapterInfo;
  const sg = a.subgroupMinSize !== undefined ? `; subgroup size ${a.subgroupMinSize === a.subgroupMaxSize ? a.subgroupMinSize : `${a.subgroupMinSize}..${a.subgroupMaxSize}`}` : '';
  const lines = [
    `adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || '(no info)'}`,
    `kernels: ${g.kernels}-class (${kernelClassSource() === 'adapter' ? 'from the adapter' : 'IR_NEURONS_KERNELS'})${sg}`,
    `features: ${g.features.join(', ')}`,
    `limits:${limitsChoice() === 'default' ? ' the WebGPU defaults (IR_NEURONS_LIMITS=default)' : ''}`,
    ...Object.entries(g.limits).map(([k, v]) => `  ${k.padEnd(36)} ${v}`),
  ];
  return lines.join('\n');
}
