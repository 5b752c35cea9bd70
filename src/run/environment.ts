/**
 * The environment a run was made in, recorded in every manifest.json and pruning.json as `environment`: the
 * package (and the git commit in a checkout), Node, OS, CPU and memory, the `webgpu` package (Dawn), the adapter,
 * the kernels the run used (class, CPU-class form, tuned matmul choices, every pipeline built) and the sha256 of
 * every input file (model files, tokenizer, dataset files, an experiment file).
 *
 * It describes, it never identifies: a dataset run's key (src/run/keys.ts) leaves it out, so a run resumes on
 * another machine and shards made on different machines merge (the merged manifest keeps each shard's). Nothing
 * here fails a run: what cannot be read (no git, no `webgpu` package, an input that vanished) is recorded as null.
 * Costs: file hashes are cached per process by (path, size, mtime, inode) (src/formats/hash.ts), and the model's
 * files were hashed by modelHash already; git and the package files are read once per process.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapterRecord, kernelClassSource, type AdapterRecord, type Gpu, type KernelClass } from '../gpu/device.ts';
import { tunedPicks, tuneMode } from '../gpu/autotune.ts';
import { cpuForm, type CpuForm } from '../kernels/matmul-cpu.ts';
import { fileSha256, modelFiles } from '../formats/hash.ts';

/** The package root: src/run/ in a checkout and dist/lib/ in the package alike sit two folders below it. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const ENVIRONMENT_FORMAT = 1;

export interface InputFile { path: string; sha256: string | null }

export interface Environment {
  format: number;
  package: { name: string; version: string; git: { commit: string; dirty: boolean } | null };
  node: string;
  os: { platform: string; release: string; arch: string };
  cpu: { model: string; cores: number };
  memoryBytes: number;
  /** the `webgpu` npm package (Dawn for Node; Dawn's own version is not exposed by it); null in a run without it */
  webgpu: { version: string } | null;
  adapter: AdapterRecord | null;
  kernels: {
    class: KernelClass;
    from: 'IR_NEURONS_KERNELS' | 'adapter';
    /** the CPU-class kernels' form on this adapter (src/kernels/matmul-cpu.ts); null for the GPU class */
    cpuForm: CpuForm | null;
    /** IR_NEURONS_TUNE's mode and the tuned matmul variant chosen per shape class (src/gpu/autotune.ts) */
    tune: { mode: string; picks: Record<string, string> };
    /** every pipeline the process built on this device: shader#entry?override constants (forms, tiles, variants) */
    pipelines: string[];
  } | null;
  inputs: {
    model?: { dir: string; files: Record<string, string | null> };
    tokenizer?: InputFile;
    datasets?: { name: string; files: Record<string, InputFile> }[];
    experiment?: InputFile;
    /** other input files by role, e.g. `pairs` (attribute --pairs FILE) */
    files?: Record<string, InputFile>;
  };
}

/** The input files a run read, as paths (hashed here) or, for the experiment file, with a hash already taken. */
export interface EnvironmentInputs {
  modelDir?: string;
  tokenizerFile?: string;
  datasets?: readonly { name: string; files: Record<string, string> }[];
  experiment?: { file: string; hash?: string };
  files?: Record<string, string>;
}

const sha = (p: string): string | null => {
  try {
    return `sha256:${fileSha256(p)}`;
  } catch {
    return null;
  }
};

let fixed: Pick<Environment, 'package' | 'webgpu'> | null = null;

/** The package, its git state and the `webgpu` package, read once per process. */
function fixedParts(): Pick<Environment, 'package' | 'webgpu'> {
  if (fixed) return fixed;
  let pkg = { name: 'ir-neurons', version: 'unknown' };
  try {
    pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  } catch { /* recorded as unknown */ }
  let webgpu: Environment['webgpu'] = null;
  try {
    const file = createRequire(join(ROOT, 'package.json')).resolve('webgpu/package.json');
    webgpu = { version: String(JSON.parse(readFileSync(file, 'utf8')).version) };
  } catch { /* not installed: a browser bundle or a package without it */ }
  fixed = { package: { name: pkg.name, version: pkg.version, git: gitState(ROOT) }, webgpu };
  return fixed;
}

/** HEAD and whether tracked files differ from it, when `dir` is a git checkout and git answers within 2 s; else null. */
export function gitState(dir: string): { commit: string; dirty: boolean } | null {
  if (!existsSync(join(dir, '.git'))) return null;
  try {
    const run = (args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
    const commit = run(['rev-parse', 'HEAD']).trim();
    if (!/^[0-9a-f]{40,64}$/.test(commit)) return null;
    return { commit, dirty: run(['status', '--porcelain', '--untracked-files=no']).trim() !== '' };
  } catch {
    return null;
  }
}

/** The environment of a run on `g` (null: none, e.g. merge) that read `inputs`. */
export function runEnvironment(g: Gpu | null, inputs: EnvironmentInputs = {}): Environment {
  const c = cpus();
  const ins: Environment['inputs'] = {};
  if (inputs.modelDir !== undefined) {
    const dir = inputs.modelDir;
    ins.model = { dir, files: Object.fromEntries(modelFiles(dir).map((f) => [f, sha(join(dir, f))])) };
  }
  if (inputs.tokenizerFile !== undefined) ins.tokenizer = { path: inputs.tokenizerFile, sha256: sha(inputs.tokenizerFile) };
  if (inputs.datasets?.length) {
    ins.datasets = inputs.datasets.map((d) => ({ name: d.name, files: Object.fromEntries(Object.entries(d.files).map(([k, p]) => [k, { path: p, sha256: sha(p) }])) }));
  }
  if (inputs.experiment) {
    const { file, hash } = inputs.experiment;
    ins.experiment = { path: file, sha256: hash ?? sha(file) };
  }
  if (inputs.files && Object.keys(inputs.files).length) {
    ins.files = Object.fromEntries(Object.entries(inputs.files).map(([k, p]) => [k, { path: p, sha256: sha(p) }]));
  }
  return {
    format: ENVIRONMENT_FORMAT,
    ...fixedParts(),
    node: process.version,
    os: { platform: platform(), release: release(), arch: arch() },
    cpu: { model: c[0]?.model?.trim() ?? 'unknown', cores: c.length },
    memoryBytes: totalmem(),
    adapter: g ? adapterRecord(g) : null,
    kernels: g ? {
      class: g.kernels, from: kernelClassSource(), cpuForm: g.kernels === 'cpu' ? cpuForm(g) : null,
      tune: { mode: tuneMode(g), picks: tunedPicks(g) }, pipelines: g.pipelines.keys(),
    } : null,
    inputs: ins,
  };
}

/** What says "another machine or build" in an environment (not its inputs, not the pipelines one process happened to build). */
export function machineOf(e: Partial<Environment> | undefined | null): string {
  if (!e) return '';
  return JSON.stringify([e.package, e.node, e.os, e.cpu, e.webgpu, e.adapter && [e.adapter.vendor, e.adapter.architecture, e.adapter.device, e.adapter.description], e.kernels?.class, e.kernels?.cpuForm]);
}

/** A few lines for people (`ir-neurons doctor`): package and commit, Node, OS, CPU, memory, webgpu, kernel form, tuning. */
export function describeEnvironment(e: Environment): string {
  const git = e.package.git ? ` (git ${e.package.git.commit.slice(0, 12)}${e.package.git.dirty ? ', with uncommitted changes' : ''})` : '';
  return [
    `package: ${e.package.name} ${e.package.version}${git}`,
    `node: ${e.node}; os: ${e.os.platform} ${e.os.release} ${e.os.arch}; cpu: ${e.cpu.model} × ${e.cpu.cores}; memory: ${(e.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    `webgpu package: ${e.webgpu?.version ?? 'not found'}${e.adapter ? `; adapter: ${e.adapter.software ? 'software' : 'hardware'}` : ''}`,
    ...(e.kernels ? [`kernel form: ${e.kernels.cpuForm ?? 'GPU class'}; matmul tuning: ${e.kernels.tune.mode}`] : []),
  ].join('\n');
}
