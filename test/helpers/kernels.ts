/** Every kernel description exported by src/kernels/*.ts: each `defineKernel`, and each variant of a family's
 * table (`defineVariants`: an exported object of descriptions), named by module, export and variant. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelDef } from '../../src/gpu/pipelines.ts';

const KERNELS = fileURLToPath(new URL('../../src/kernels', import.meta.url));

export const isDef = (x: unknown): x is KernelDef =>
  !!x && typeof x === 'object' && typeof (x as KernelDef).shader === 'string' && typeof (x as KernelDef).bindings === 'object' && typeof (x as KernelDef).layout === 'object';

/** A family's variant table: a non-empty object whose values are all descriptions. */
const isTable = (x: unknown): x is Record<string, KernelDef> =>
  !!x && typeof x === 'object' && !isDef(x) && Object.values(x).length > 0 && Object.values(x).every(isDef);

export async function kernelDescriptions(): Promise<{ where: string; def: KernelDef }[]> {
  const out: { where: string; def: KernelDef }[] = [];
  for (const f of readdirSync(KERNELS).filter((n) => n.endsWith('.ts')).sort()) {
    const mod = (await import(join(KERNELS, f))) as Record<string, unknown>;
    for (const [name, v] of Object.entries(mod)) {
      if (isDef(v)) out.push({ where: `src/kernels/${f} ${name}`, def: v });
      else if (isTable(v)) for (const [variant, d] of Object.entries(v)) out.push({ where: `src/kernels/${f} ${name}.${variant}`, def: d });
    }
  }
  return out;
}
