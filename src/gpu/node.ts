/** Node entry to the GPU: Dawn through the `webgpu` package, WGSL read from `shaders/`. */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeGpu, openGpu, type Gpu, type GpuOptions } from './device.ts';
import { setShaderProvider } from './shaders.ts';

// From src/gpu/ in a checkout and from dist/lib/ in the package alike: both sit two folders below the root.
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

/**
 * Runs `f` with file descriptor 2 pointing at /dev/null. Dawn writes its "maxDynamic{Uniform,Storage}BuffersPer
 * PipelineLayout artificially reduced …" warnings with fprintf(stderr) while it discovers adapters — inside the
 * first requestAdapter() call, synchronously — and no Dawn toggle turns them off, so that one call runs with the
 * native stderr silenced. Node has no dup2: fd 2 is closed and /dev/null opened (taking the lowest free number,
 * 2), then the original is reopened through /proc/self/fd. That gives back the same terminal or pipe, so it is done
 * only when fd 2 is one of those (Linux, fds 0 and 1 open); a regular file or a socket on fd 2 is left alone and
 * keeps Dawn's lines (reopening a file would give it a second offset). IR_NEURONS_DAWN_LOG=1 keeps them always.
 */
export function withNativeStderrSilenced<T>(f: () => T): T {
  if (process.platform !== 'linux' || process.env.IR_NEURONS_DAWN_LOG === '1') return f();
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY;
  let saved: number;
  try {
    fstatSync(0); fstatSync(1);
    const st = fstatSync(2);
    if (!st.isCharacterDevice() && !st.isFIFO()) return f();
    saved = openSync('/proc/self/fd/2', flags);
  } catch {
    return f();
  }
  let quiet = -1;
  try {
    closeSync(2);
    quiet = openSync('/dev/null', constants.O_WRONLY);
    return f();
  } finally {
    if (quiet === 2) closeSync(2);
    else if (quiet >= 0) closeSync(quiet);
    const back = openSync(`/proc/self/fd/${saved}`, flags);
    if (back !== 2) closeSync(back);  // fd 2 was taken meanwhile (not by this thread): nothing better to do
    closeSync(saved);
  }
}

let shared: Promise<Gpu> | null = null;
/** Dawn's instance must outlive every device made from it: hold it for the life of the process. */
const instances: unknown[] = [];

/**
 * The process's GPU (opened once; `printWgsl` opens another). Prints the adapter line on stderr when
 * IR_NEURONS_VERBOSE=1 (the CLI's --verbose).
 */
export async function requestGpu(opts: GpuOptions = {}): Promise<Gpu> {
  if (shared && !opts.printWgsl) return shared;
  ensureRuntimeDir();
  setShaderProvider((p) => readFileSync(join(SHADER_DIR, p), 'utf8'));
  const p = (async () => {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const gpu = create([]) as GPU;
    instances.push(gpu);
    // adapter discovery (and Dawn's two limit warnings) happens in the first requestAdapter; openGpu asks again
    await withNativeStderrSilenced(() => gpu.requestAdapter());
    const g = await openGpu(gpu, opts);
    if (process.env.IR_NEURONS_VERBOSE === '1') process.stderr.write(`${describeGpu(g).split('\n')[0]}\n`);
    return g;
  })();
  if (!opts.printWgsl) shared = p;
  return p;
}
