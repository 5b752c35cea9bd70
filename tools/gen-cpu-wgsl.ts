/** Writes the generated CPU-class WGSL (src/kernels/matmul-cpu.ts `cpuShaderFiles`) under shaders/:
 *   node --import tsx tools/gen-cpu-wgsl.ts   (test/matmul-cpu.test.ts fails while a file is stale) */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuShaderFiles } from '../src/kernels/matmul-cpu.ts';

for (const [path, text] of Object.entries(cpuShaderFiles())) {
  writeFileSync(fileURLToPath(new URL(`../shaders/${path}`, import.meta.url)), text);
  console.log(`wrote shaders/${path} (${text.split('\n').length - 1} lines)`);
}
