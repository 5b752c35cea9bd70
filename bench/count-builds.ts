/**
 * A preload that counts what a run builds, printed on exit: arenas by kind (activations of forward plans — `s` when
 * saved for backward —, attribution sums, point stores) with their bytes, and bind groups created. It wraps
 * `Arena.build` (and the device's createBindGroup, from the first arena on), so it counts the same things on any
 * commit: the before/after figure of bench/RESULTS.md "Issue 22: plans kept by a memory budget".
 *   node --import tsx --import ./bench/count-builds.ts bin/ir-neurons.js demo --out /tmp/x
 */
import { Arena } from '../src/gpu/arena.ts';

const counts = new Map<string, { n: number; bytes: number }>();
let bindGroups = 0;
let patched = false;
const build = Arena.prototype.build;
Arena.prototype.build = function (this: Arena) {
  const self = this as unknown as { g: { device: GPUDevice }; label: string };
  if (!patched) {
    patched = true;
    const dev = self.g.device;
    const create = dev.createBindGroup.bind(dev);
    dev.createBindGroup = ((d: GPUBindGroupDescriptor) => { bindGroups++; return create(d); }) as typeof dev.createBindGroup;
  }
  build.call(this);
  const kind = self.label.replace(/ \d.*$/, '');
  const c = counts.get(kind) ?? { n: 0, bytes: 0 };
  c.n++;
  c.bytes += this.bytes;
  counts.set(kind, c);
};
process.on('exit', () => {
  const parts = [...counts].map(([k, c]) => `${k} ${c.n} (${(c.bytes / 2 ** 20).toFixed(0)} MiB)`);
  process.stderr.write(`builds: ${parts.join(', ')}; bind groups ${bindGroups}\n`);
});
