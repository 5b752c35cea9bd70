/**
 * `ir-neurons ARGS` in this process: src/cli/main.ts's `main`, with what it writes to standard output and standard
 * error captured (not printed) and its exit code returned. A spawned `node bin/ir-neurons.js` costs about a second
 * of CPU (tsx, then the GPU opened again); tests about a command's output and exit code, not about the process
 * boundary, run it here and share this process's GPU (src/gpu/node.ts opens one per process). `env` is set for
 * the call and restored after; both streams read as pipes (isTTY false) meanwhile. Native writes (Dawn's) go to the real file descriptors, not into the capture.
 */
import { main } from '../../src/cli/main.ts';

export interface CliResult { code: number; stdout: string; stderr: string }

let busy = false;
export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  if (busy) throw new Error('runCli: one command at a time (standard output and error are captured process-wide)');
  busy = true;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  };
  const out = process.stdout.write, err = process.stderr.write;
  let stdout = '', stderr = '';
  const capture = (add: (s: string) => void) => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    add(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  // a pipe, as for a spawned command: no progress line redrawn in place, whatever the test runner's terminal
  const tty = [process.stdout, process.stderr].map((s) => Object.getOwnPropertyDescriptor(s, 'isTTY'));
  for (const s of [process.stdout, process.stderr]) Object.defineProperty(s, 'isTTY', { value: false, configurable: true, writable: true });
  set(env);
  process.stdout.write = capture((s) => { stdout += s; });
  process.stderr.write = capture((s) => { stderr += s; });
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    [process.stdout, process.stderr].forEach((s, i) => { if (tty[i]) Object.defineProperty(s, 'isTTY', tty[i]!); else delete (s as { isTTY?: boolean }).isTTY; });
    set(saved);
    busy = false;
  }
}
