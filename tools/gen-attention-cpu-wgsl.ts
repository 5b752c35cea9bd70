/** Writes the generated CPU-class attention WGSL, both forms (8 and 4 lanes; src/kernels/attention-cpu.ts
 *  `attentionCpuShaderFiles`) under shaders/:
 *   node --import tsx tools/gen-attention-cpu-wgsl.ts   (test/attention-cpu.test.ts fails while a file is stale) */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { attentionCpuShaderFiles } from '../src/kernels/attention-cpu.ts';

for (const [path, text] of Object.entries(attentionCpuShaderFiles())) {
  writeFileSync(fileURLToPath(new URL(`../shaders/${path}`, import.meta.url)), text);
  console.log(`wrote shaders/${path} (${text.split('\n').length - 1} lines)`);
}
