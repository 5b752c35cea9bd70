/** Node entry to the GPU: Dawn through the `webgpu` package, WGSL read from `shaders/`. */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeGpu, openGpu, type Gpu, type GpuOptions } from './device.ts';
import { setShaderProvider } from './shaders.ts';
import { setUpCompiling } from './node-compile.ts';

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
 * Runs `f` with the C library's stderr stream writing to /dev/null. Dawn writes its "maxDynamic{Uniform,Storage}
 * BuffersPerPipelineLayout artificially reduced …" warnings while it discovers adapters — inside the first
 * requestAdapter() call, synchronously — with dawn::WarningLog(), which is fprintf(stderr) with no toggle, instance
 * field, logging callback or flag of the `webgpu` package's create() in the way (Dawn's src/dawn/native/Limits.cpp,
 * NormalizeLimits; src/utils/log.cc, LogMessage::~LogMessage). So that one call runs with glibc's stderr FILE
 * pointed elsewhere: its `_fileno` is set to a /dev/null descriptor, then back to 2. File descriptor 2 itself is not
 * touched, which makes this right whatever it is — terminal, pipe, regular file (also one shared with stdout, as
 * `> log 2>&1` makes it: one file description, one offset, nothing moved) or socket — and leaves other processes
 * that share it alone. Swapping fd 2 cannot do that from Node, which has no dup: reopening /proc/self/fd/N gives a
 * file a second description with its own offset and fails for a socket, and a child handing fd 2 back over the IPC
 * channel aborts Node unless it is a socket or a pipe. Where the stream cannot be reached (not glibc on x64 or
 * arm64, /proc/self/mem not writable), fd 2 is swapped after all when it is a terminal or a pipe, which reopening
 * gives back unchanged; a file or a socket then keeps Dawn's lines. IR_NEURONS_DAWN_LOG=1 keeps them always.
 */
export function withNativeStderrSilenced<T>(f: () => T): T {
  if (process.platform !== 'linux' || process.env.IR_NEURONS_DAWN_LOG === '1') return f();
  const stream = stderrStream();
  if (!stream) return withFd2OnDevNull(f);
  let quiet = -1;
  try {
    quiet = openSync('/dev/null', constants.O_WRONLY);
    setFileno(stream, quiet);
  } catch {
    if (quiet >= 0) closeSync(quiet);
    closeSync(stream.mem);
    return withFd2OnDevNull(f);
  }
  try {
    return f();
  } finally {
    let back = false;
    try {
      setFileno(stream, 2);
      back = true;
    } catch { /* the stream stays on /dev/null: closing `quiet` could hand its number to some other file */ }
    if (back) closeSync(quiet);
    closeSync(stream.mem);
  }
}

/** Where `_fileno` sits in glibc's FILE (struct _IO_FILE) on LP64: after the int `_flags` and 13 pointers. */
const FILENO_AT = 0x70;
/** ELF e_machine of the architectures whose glibc FILE layout FILENO_AT is (both little-endian). */
const ELF_MACHINE: Partial<Record<string, number>> = { x64: 62, arm64: 183 };

/** glibc's stderr FILE, reached through `mem` (/proc/self/mem, open for writing); `fileno`: where its `_fileno` is. */
interface StderrStream { mem: number; fileno: number }

/**
 * glibc's `_IO_2_1_stderr_`, the FILE that `stderr` (Dawn's fprintf(stderr), Node's own fprintf) writes through:
 * libc found in /proc/self/maps, the symbol in its dynamic symbol table, and the FILE taken only if it reads as one
 * through /proc/self/mem (glibc's 0xfbad magic in `_flags`, 2 in `_fileno`). Null where any of that does not hold.
 */
function stderrStream(): StderrStream | null {
  const machine = ELF_MACHINE[process.arch];
  if (machine === undefined) return null;
  let mem = -1;
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const lib = /^([0-9a-f]+)-[0-9a-f]+ \S+ 0+ \S+ \d+ +(\/\S*\/libc(?:\.so\.6|-[\d.]+\.so))$/m.exec(maps);
    if (!lib) return null;
    const sym = elfSymbol(lib[2], '_IO_2_1_stderr_', machine);
    if (!sym || sym.size < FILENO_AT + 4) return null;
    const addr = parseInt(lib[1], 16) - sym.loadVaddr + sym.value;
    mem = openSync('/proc/self/mem', 'r+');
    const head = Buffer.alloc(FILENO_AT + 4);
    if (readSync(mem, head, 0, head.length, addr) !== head.length) throw new Error('short read');
    if (head.readUInt32LE(0) >>> 16 !== 0xfbad || head.readInt32LE(FILENO_AT) !== 2) throw new Error('not stderr');
    return { mem, fileno: addr + FILENO_AT };
  } catch {
    if (mem >= 0) closeSync(mem);
    return null;
  }
}

function setFileno(s: StderrStream, fd: number): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(fd);
  if (writeSync(s.mem, b, 0, 4, s.fileno) !== 4) throw new Error('short write');
}

type ElfSymbol = { value: number; size: number; loadVaddr: number };
/**
 * `name` in the dynamic symbol table of the 64-bit little-endian ELF file at `path` (for `machine`): its value and
 * size, and the address of the segment loaded from the file's start (the mapping at offset 0 is there).
 */
function elfSymbol(path: string, name: string, machine: number): ElfSymbol | null {
  const fd = openSync(path, 'r');
  try {
    const at = (pos: number, len: number): Buffer => {
      const b = Buffer.alloc(len);
      if (readSync(fd, b, 0, len, pos) !== len) throw new Error('short read');
      return b;
    };
    const eh = at(0, 64);
    const elf64le = eh.readUInt32BE(0) === 0x7f454c46 && eh[4] === 2 && eh[5] === 1;
    if (!elf64le || eh.readUInt16LE(0x12) !== machine) return null;
    const u64 = (b: Buffer, o: number): number => Number(b.readBigUInt64LE(o));
    const phEnt = eh.readUInt16LE(0x36), shEnt = eh.readUInt16LE(0x3a);
    const ph = at(u64(eh, 0x20), phEnt * eh.readUInt16LE(0x38));
    let loadVaddr = -1;
    for (let o = 0; o < ph.length; o += phEnt) {
      if (ph.readUInt32LE(o) === 1 /* PT_LOAD */ && u64(ph, o + 8) === 0) { loadVaddr = u64(ph, o + 16); break; }
    }
    if (loadVaddr < 0) return null;
    const sh = at(u64(eh, 0x28), shEnt * eh.readUInt16LE(0x3c));
    const want = Buffer.from(`${name}\0`);
    for (let o = 0; o < sh.length; o += shEnt) {
      if (sh.readUInt32LE(o + 4) !== 11 /* SHT_DYNSYM */) continue;
      const str = sh.readUInt32LE(o + 40) * shEnt;
      const names = at(u64(sh, str + 24), u64(sh, str + 32));
      const syms = at(u64(sh, o + 24), u64(sh, o + 32));
      const ent = u64(sh, o + 56);
      for (let s = 0; ent > 0 && s + ent <= syms.length; s += ent) {
        const n = syms.readUInt32LE(s);
        if (n + want.length <= names.length && names.compare(want, 0, want.length, n, n + want.length) === 0) {
          return { value: u64(syms, s + 8), size: u64(syms, s + 16), loadVaddr };
        }
      }
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The fallback of withNativeStderrSilenced: `f` runs with fd 2 itself on /dev/null. Node has no dup2: fd 2 is closed
 * and /dev/null opened (taking the lowest free number, 2), then the original is reopened through /proc/self/fd.
 * That gives back the same terminal or pipe, so it is done only when fd 2 is one of those (fds 0 and 1 open); a
 * regular file or a socket on fd 2 is left alone (reopening a file would give it a second offset).
 */
function withFd2OnDevNull<T>(f: () => T): T {
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
    // compile helpers get an instance of their own: devices of one instance share lavapipe's screen, whose lock
    // serialises their compiles
    setUpCompiling(g, async () => {
      const own = create([]) as GPU;
      instances.push(own);
      await withNativeStderrSilenced(() => own.requestAdapter());
      return own;
    });
    if (process.env.IR_NEURONS_VERBOSE === '1') process.stderr.write(`${describeGpu(g).split('\n')[0]}\n`);
    return g;
  })();
  if (!opts.printWgsl) shared = p;
  return p;
}
