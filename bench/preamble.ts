/**
 * What every benchmark prints first, so that a result can be traced to its machine: CPU model and cores, memory,
 * OS, Node, the commit, the load average, then the GPU (adapter and limits); and the gpu.js peer that the kernel
 * benchmarks run in the same process. One copy for bench/*.ts.
 */
import os from 'node:os';
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { withNavigatorGpu, type GpujsCtor, type GpujsMode } from '../src/bench/kernels.ts';
import { describeGpu, type Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';

/** The 1, 5 and 15 minute load averages, two decimals each (benchmarks print it beside every timing). */
export function loadAverage(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

/** The checkout's short commit hash, or '?' outside a git checkout. */
export function commit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?'; // not a checkout
  }
}

/**
 * Prints the machine line, requests the GPU and prints it (`gpu: 'full'` all of describeGpu, 'adapter' its first
 * line); returns the device and the commit hash.
 */
export async function benchPreamble(gpu: 'full' | 'adapter' = 'full'): Promise<{ g: Gpu; rev: string }> {
  const cpus = os.cpus();
  const rev = commit();
  console.log(`machine: ${cpus[0]?.model ?? '?'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}, node ${process.version}, commit ${rev}, load average ${loadAverage()}`);
  const g = await requestGpu();
  const text = describeGpu(g);
  console.log(gpu === 'full' ? text : text.split('\n')[0]);
  return { g, rev };
}

/** The gpu.js peer (null when not `wanted` or not installed) and the modes the kernel benchmarks run it in. */
export function gpujsPeer(g: Gpu, wanted: boolean): { GPU: GpujsCtor | null; modes: GpujsMode[] } {
  let GPU: GpujsCtor | null = null;
  if (wanted) {
    try {
      GPU = (createRequire(import.meta.url)('gpu.js') as { GPU: GpujsCtor }).GPU;
    } catch (e) {
      console.log(`gpu.js: not loadable (${(e as Error).message.split('\n')[0]}); run \`npm install\``);
    }
  }
  // gpu.js finds WebGPU through navigator.gpu; it sees this process's Dawn instance only inside 'webgpu' calls
  return { GPU, modes: [{}, { mode: 'async' }, { mode: 'webgpu', env: withNavigatorGpu(g.keepAlive[0]) }] };
}
