/**
 * The CPU peers the benchmarks run beside ours, interleaved in the same run, and the main thread's CPU time.
 *  - NIG: ../shared/device/peer_nig_cpu.py, a plain-PyTorch BERT doing the same NIG on the CPU (Debian's
 *    python3-torch under /usr/bin/python3; with libopenblas0-openmp its sgemm is OpenBLAS: the line it prints
 *    names the BLAS file). One call = one warm-up pair + `reps` timed pairs in a fresh process.
 *  - matmul: numpy's sgemm (float32 `a @ b.T`, what our TRANS_B product computes) in a fresh /usr/bin/python3.
 * Both run with `threads` BLAS threads (default: the machine's cores, as lavapipe's LP_NUM_THREADS default).
 * `mainThreadCpuMs` reads this process's main thread's CPU time (Linux /proc): lavapipe's worker threads live in the
 * same process, so process.cpuUsage() would count them too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
export const NIG_PEER = fileURLToPath(new URL('../../shared/device/peer_nig_cpu.py', import.meta.url));

/** Why the CPU peer cannot run here (and what to install), or null. */
export function cpuPeerMissing(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  if (!existsSync(NIG_PEER)) return `${NIG_PEER} is missing`;
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (r.status !== 0) return `${PYTHON} cannot import torch and numpy (apt-get install python3-torch libopenblas0-openmp)`;
  return null;
}

export interface PeerResult { ms: number; line: string }

/** One run of the NIG peer: a warm-up pair and `reps` timed ones; the median ms/pair and its PEER line. */
export function runNigPeer(o: { shape: string; tokens: number; steps: number; rule: string; threads?: number; reps?: number; chunk?: number }): PeerResult {
  const threads = o.threads ?? os.cpus().length;
  const args = [NIG_PEER, '--shape', o.shape, '--tokens', String(o.tokens), '--steps', String(o.steps), '--rule', o.rule, '--threads', String(threads), '--reps', String(o.reps ?? 1), ...(o.chunk ? ['--chunk', String(o.chunk)] : [])];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('PEER ')) ?? '';
  const m = / ([\d.]+) ms\/pair/.exec(line);
  if (r.status !== 0 || !m) throw new Error(`the CPU peer (${PYTHON} ${args.join(' ')}) failed with status ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`);
  return { ms: Number(m[1]), line };
}

const SGEMM = String.raw`
import os, sys, time, statistics, ctypes
import numpy as np
M, N, K, reps = (int(x) for x in sys.argv[1:5])
rng = np.random.default_rng(0)
a = rng.standard_normal((M, K), dtype=np.float32); b = rng.standard_normal((N, K), dtype=np.float32)
a @ b.T
ts = []
for _ in range(reps):
    t = time.perf_counter(); a @ b.T; ts.append(time.perf_counter() - t)
cfg = np.__config__.get_info("blas_opt_info") if hasattr(np.__config__, "get_info") else {}
libs = ",".join(cfg.get("libraries", [])) if isinstance(cfg, dict) else "?"
print(f"PEER numpy-sgemm {M}x{N}x{K}: {statistics.median(ts) * 1e3:.3f} ms (median of {reps}; numpy {np.__version__}, blas {libs}, threads {os.environ.get('OPENBLAS_NUM_THREADS')})")
`;

/** numpy's float32 a(M,K) @ b(N,K)ᵀ in a fresh process: median ms of `reps` after one warm-up, and its line. */
export function runSgemmPeer(M: number, N: number, K: number, o: { threads?: number; reps?: number } = {}): PeerResult {
  const threads = String(o.threads ?? os.cpus().length);
  const r = spawnSync(PYTHON, ['-c', SGEMM, String(M), String(N), String(K), String(o.reps ?? 5)], {
    encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads },
  });
  const line = (r.stdout ?? '').trim().split('\n').find((l) => l.startsWith('PEER ')) ?? '';
  const m = /: ([\d.]+) ms/.exec(line);
  if (r.status !== 0 || !m) throw new Error(`numpy sgemm peer failed with status ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' / ')}`);
  return { ms: Number(m[1]), line };
}

/** The BLAS library /usr/bin/python3's libblas.so.3 resolves to (OpenBLAS or the reference one). */
export function blasLibrary(): string {
  const r = spawnSync(PYTHON, ['-c', 'import ctypes.util, os; p = "/usr/lib/x86_64-linux-gnu/libblas.so.3"; print(os.path.realpath(p))'], { encoding: 'utf8' });
  return (r.stdout ?? '?').trim() || '?';
}

const TICK_MS = 10; // USER_HZ = 100 on Linux

/** CPU time (user + system, ms) of this process's main thread, or NaN where /proc is not there. */
export function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return (Number(f[11]) + Number(f[12])) * TICK_MS;              // utime (14), stime (15)
  } catch {
    return NaN;
  }
}

/** Whole-process CPU ms (all threads: the host and lavapipe's workers). */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
