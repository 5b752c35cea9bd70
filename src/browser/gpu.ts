/**
 * Browser entry to the GPU: `navigator.gpu` through openGpu (src/gpu/device.ts, which asks for the adapter's real
 * limits and features), WGSL from the sources the build bundled as text. `webgpuSupport` says in words why a
 * browser cannot run the engine, before any model is loaded.
 */
import SHADERS from 'ir-neurons:shaders';
import { openGpu, type Gpu, type GpuOptions } from '../gpu/device.ts';
import { setShaderProvider } from '../gpu/shaders.ts';
import { UserError } from '../util/errors.ts';

/** Registers the bundled WGSL with shaderSource (includes are resolved there). */
export function registerBundledShaders(): void {
  setShaderProvider((path) => {
    const src = SHADERS[path];
    if (src === undefined) throw new Error(`WGSL '${path}' is not in the browser bundle (it holds ${Object.keys(SHADERS).length} files); rebuild with npm run build:web`);
    return src;
  });
}

export type WebGpuSupport =
  | { ok: true; adapter: string; limits: { maxStorageBufferBindingSize: number; maxBufferSize: number } }
  | { ok: false; reason: string; help: string };

/** Whether this browser can give the engine a WebGPU adapter, and if not, why and what to do. */
export async function webgpuSupport(nav: Navigator = navigator, secure = globalThis.isSecureContext ?? true): Promise<WebGpuSupport> {
  const browsers = 'WebGPU ships in Chrome and Edge 113+ (Windows, macOS, ChromeOS; Linux behind chrome://flags/#enable-unsafe-webgpu with Vulkan), ' +
    'Safari 26+, and Firefox 141+ on Windows.';
  if (!secure) {
    return { ok: false, reason: 'this page is not a secure context, and browsers expose WebGPU only to secure pages', help: `Open it over https, or from localhost / 127.0.0.1. ${browsers}` };
  }
  if (!nav.gpu) {
    return { ok: false, reason: 'this browser has no WebGPU (navigator.gpu is undefined)', help: `Use a browser with WebGPU enabled. ${browsers}` };
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, reason: `requestAdapter failed: ${(e as Error).message}`, help: 'Check chrome://gpu (or about:support) for why WebGPU is disabled.' };
  }
  if (!adapter) {
    return {
      ok: false,
      reason: 'WebGPU is present but the browser gave no adapter',
      help: 'The GPU or its driver may be blocklisted, or hardware acceleration is off; chrome://gpu says which. ' +
        'On Linux, Chromium needs --enable-unsafe-webgpu (and a Vulkan driver, or its built-in SwiftShader).',
    };
  }
  const i = adapter.info;
  return {
    ok: true,
    adapter: [i?.vendor, i?.architecture, i?.device, i?.description].filter(Boolean).join(' / ') || '(no adapter info)',
    limits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  };
}

/** Opens the device of `gpu` (default navigator.gpu) with the bundled shaders registered. */
export async function openBrowserGpu(gpu: GPU | undefined = globalThis.navigator?.gpu, opts: GpuOptions = {}): Promise<Gpu> {
  registerBundledShaders();
  if (!gpu) throw new UserError('this browser has no WebGPU (navigator.gpu is undefined); use Chrome or Edge 113+, Safari 26+, or Firefox 141+ on Windows');
  return openGpu(gpu, opts);
}
