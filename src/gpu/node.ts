/** Node entry to the GPU: Dawn through the `webgpu` package, WGSL read from `shaders/`. */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGpu, type Gpu, type GpuOptions } from './device.ts';
import { setShaderProvider } from './shaders.ts';

const SHADER_DIR = fileURLToPath(new URL('../../shaders/', import.meta.url));

/** Dawn's Vulkan backend wants an existing 0700 XDG_RUNTIME_DIR; make one when the session has none. */
function ensureRuntimeDir(): void {
  const cur = process.env.XDG_RUNTIME_DIR;
  try {
    if (cur && statSync(cur).isDirectory()) return;
  } catch { /* fall through */ }
  const dir = join(tmpdir(), `ir-neurons-xdg-${process.getuid?.() ?? 'u'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

let shared: Promise<Gpu> | null = null;
/** Dawn's instance must outlive every device made from it: hold it for the life of the process. */
const instances: unknown[] = [];

export async function requestGpu(opts: GpuOptions = {}): Promise<Gpu> {
  if (shared && !opts.printWgsl) return shared;
  ensureRuntimeDir();
  setShaderProvider((p) => readFileSync(join(SHADER_DIR, p), 'utf8'));
  const p = (async () => {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    // Dawn prints limit warnings on stderr at device creation; they are harmless.
    const gpu = create([]) as GPU;
    instances.push(gpu);
    return openGpu(gpu, opts);
  })();
  if (!opts.printWgsl) shared = p;
  return p;
}
