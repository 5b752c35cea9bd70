/**
 * Every kernel's WGSL compiles on this device's Dawn: each description of src/kernels/*.ts — a plain file, or a
 * variant of a family's table expanded from its template (src/gpu/template.ts) — goes through createShaderModule,
 * and getCompilationInfo reports no error (Tint's parse and validation; no pipeline, no dispatch, so no LLVM
 * compile: the whole set takes about a second). WGSL that enables subgroups is compiled only where the device has
 * the feature (counted in the output). A broken variant is reported (the check can fail).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { kernelWgsl } from '../src/gpu/pipelines.ts';
import { MATMUL_CPU } from '../src/kernels/matmul-cpu.ts';
import { kernelDescriptions } from './helpers/kernels.ts';

let g: Gpu;

/** Tint's error messages for `code` (empty: it compiles), with a validation error scope around the module. */
async function errorsOf(code: string, label: string): Promise<string[]> {
  g.device.pushErrorScope('validation');
  const module = g.device.createShaderModule({ label, code });
  const info = await module.getCompilationInfo();
  const scope = await g.device.popErrorScope();
  return [...info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`), ...(scope ? [scope.message] : [])];
}

test('every description and every template variant compiles (createShaderModule, no error in getCompilationInfo)', async () => {
  g = await requestGpu();
  const subgroups = g.features.includes('subgroups');
  const defs = await kernelDescriptions();
  const problems: string[] = [];
  let compiled = 0, variants = 0, skipped = 0;
  for (const { where, def } of defs) {
    const code = kernelWgsl(def);
    if (!subgroups && /^\s*enable\s+subgroups\s*;/m.test(code)) { skipped++; continue; }
    const errs = await errorsOf(code, def.name);
    if (errs.length) problems.push(`${where} (${def.name}):\n    ${errs.join('\n    ')}`);
    compiled++;
    if (def.variant) variants++;
  }
  console.log(`  wgsl-compile: ${compiled} kernels compiled (${variants} template variants) on ${g.adapterInfo.description || g.adapterInfo.device}${skipped ? `; ${skipped} need subgroups, which this device lacks` : ''}`);
  assert.equal(problems, [], `WGSL that Dawn refuses:\n  ${problems.join('\n  ')}`);
  assert.ok(compiled >= 40 && (variants >= 21 || !subgroups), `only ${compiled} kernels (${variants} variants) compiled`);
});

test('a broken variant is reported', async () => {
  // the nosg matmul (no subgroups needed) with one accumulator's declaration dropped: acc15 is then unknown
  const broken = kernelWgsl(MATMUL_CPU.nosg).replace('var acc15 = vec4f(0.0);', '');
  const errs = await errorsOf(broken, 'broken');
  assert.ok(errs.some((e) => /acc15/.test(e)), `expected an error naming acc15, got: ${errs.join('; ') || 'none'}`);
});

test.run();
