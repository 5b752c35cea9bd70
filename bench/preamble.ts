/**
 * What every benchmark prints first, so that a result can be traced to its machine: CPU model and cores, memory,
 * OS, Node, the commit, the load average, then the GPU (adapter and limits). One copy for bench/*.ts.
 */
import os from 'node:os';
import { execSync } from 'node:child_process';
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
