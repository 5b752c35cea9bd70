/**
 * Node's side of compiling ahead (src/gpu/compile.ts): helper devices where they pay, a progress line on stderr
 * while a cold shader cache is filled, and the count and time under `--verbose`.
 *
 * Helpers pay on Mesa's lavapipe, which compiles at first dispatch on one driver thread per device and shares an
 * on-disk cache between devices: `min(cores − 1, 3)` of them (IR_NEURONS_COMPILE_HELPERS=N sets N; 0 compiles on the
 * engine's device alone), none when Mesa's cache is off (MESA_SHADER_CACHE_DISABLE), since a helper's work would
 * then never reach the engine's device.
 */
import { availableParallelism } from 'node:os';
import { compileStats } from './compile.ts';
import { openHelperDevice, type Gpu } from './device.ts';
import { UserError } from '../util/errors.ts';

/** A progress line for compile rounds that take a while (≥ 1 s): redrawn in place on a terminal, else a line at most
 * every 2 s and one at the end. */
export function progressLine(write: (s: string) => void = (s) => process.stderr.write(s), tty = !!process.stderr.isTTY): (done: number, total: number, ms: number) => void {
  let shown = false, last = 0;
  return (done, total, ms) => {
    if (ms < 1000 && !shown) return;
    if (!tty && done < total && shown && ms - last < 2000) return;
    last = ms;
    shown = done < total;
    const line = `compiling kernels ${done}/${total} · ${(ms / 1000).toFixed(1)} s (once per machine: the driver caches them)`;
    write(tty ? `\r${line}\x1b[K${done === total ? '\n' : ''}` : `${line}\n`);
  };
}

/** Sets up compiling for the process's device `g`; `instance` gives a WebGPU instance for a helper device. */
export function setUpCompiling(g: Gpu, instance: () => Promise<GPU>): void {
  const env = process.env.IR_NEURONS_COMPILE_HELPERS;
  const mesa = /llvmpipe|lavapipe/i.test(Object.values(g.adapterInfo).join(' '));
  const cacheOff = /^(1|true|yes)$/i.test(process.env.MESA_SHADER_CACHE_DISABLE ?? '');
  if (env !== undefined && env !== '' && !/^\d+$/.test(env)) throw new UserError(`IR_NEURONS_COMPILE_HELPERS is '${env}'; it must be a whole number of helper devices (0: compile on the engine's device alone; unset: one per spare core on lavapipe)`);
  const max = env !== undefined && env !== '' ? Number(env) : mesa && !cacheOff ? Math.min(3, availableParallelism() - 1) : 0;
  if (max > 0) g.compileHelpers = { max, open: async () => openHelperDevice(await instance(), g) };
  g.onCompile = progressLine();
  if (process.env.IR_NEURONS_VERBOSE === '1') {
    process.on('exit', () => {
      if (!g.pipelines.compiled) return;
      const c = compileStats(g);
      const created = `${g.pipelines.compiled} pipelines created in ${(g.pipelines.createMs / 1000).toFixed(2)} s`;
      const ahead = g.sharesHostCores ? `; compiled ahead of first use: ${c.kernels} in ${(c.ms / 1000).toFixed(2)} s (${c.onHelpers} on ${c.helpers} helper device${c.helpers === 1 ? '' : 's'})` : '';
      process.stderr.write(`kernels: ${created}${ahead}\n`);
    });
  }
}
