/**
 * Any WebGPU device: every command runs on a device opened with the WebGPU specification's default limits
 * (IR_NEURONS_LIMITS=default: 128 MiB storage binding, 256 MiB buffer, 8 storage buffers per stage, 16 KiB workgroup
 * memory, 256 invocations), with no flag. The memory budget is not one buffer's limit (src/gpu/plans.ts
 * DEFAULT_BUDGET): a BERT-base shape at 512 tokens plans and runs. Each check runs in a child process, since a
 * process opens its device once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { limitsChoice } from '../src/gpu/device.ts';
import { UserError } from '../src/util/errors.ts';
import { REPO } from './helpers/shared.ts';

const S = suite('limits');
const env = (kernels: string) => ({ ...process.env, IR_NEURONS_LIMITS: 'default', IR_NEURONS_KERNELS: kernels });

S('IR_NEURONS_LIMITS: adapter (default) or default; anything else refused naming the variable', () => {
  assert.is(limitsChoice({}, undefined), 'adapter');
  assert.is(limitsChoice({}, ''), 'adapter');
  assert.is(limitsChoice({}, 'default'), 'default');
  assert.is(limitsChoice({ limits: 'adapter' }, 'default'), 'adapter', 'the option wins over the variable');
  assert.throws(() => limitsChoice({}, 'small'), (e: Error) => e instanceof UserError && /IR_NEURONS_LIMITS is 'small'; it must be 'adapter'.*or 'default'/.test(e.message));
});

// the CPU class (this machine's) at 512 tokens; the GPU class's kernels are slow on lavapipe, so they run every
// kernel (forward, backward, path sums) at 128 tokens, beyond one attention lane group, and plan the 512
for (const [kernels, T] of [['cpu', 512], ['gpu', 128]] as const) {
  S(`${kernels}-class kernels under the default limits: BERT-base at 512 tokens fits the default budget; NIG of a ${T}-token pair through its layers runs`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'test/helpers/default-limits.ts'), String(T)], { encoding: 'utf8', env: env(kernels), cwd: REPO });
    assert.is(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.is(o.kernels, kernels);
    assert.is(o.limits.maxBufferSize, 256 * 2 ** 20, 'the device has the specification\'s limits');
    assert.is(o.limits.maxStorageBufferBindingSize, 128 * 2 ** 20);
    assert.is(o.limits.maxStorageBuffersPerShaderStage, 8);
    assert.is(o.limits.maxComputeWorkgroupStorageSize, 16384);
    // one point of BERT-base at 512 tokens is more than one buffer may hold, and still plans, in buffers that fit
    assert.ok(o.bertBase.oneBytes > o.limits.maxBufferSize, `one point: ${o.bertBase.oneBytes} bytes`);
    assert.ok(o.bertBase.largestBinding <= o.limits.maxStorageBufferBindingSize);
    assert.is(o.budget, 2 ** 31);
    assert.ok(o.bertBase.pointsPerChunk >= 1, `points per chunk ${o.bertBase.pointsPerChunk}`);
    assert.is(o.nig.T, T);
    assert.ok(o.nig.finite, 'NIG finite');
    assert.ok(Math.abs(o.nig.F[1] - o.nig.logit) <= 1e-4 * Math.max(1, Math.abs(o.nig.logit)), `F(x) ${o.nig.F[1]} vs the forward's logit ${o.nig.logit}`);
    assert.ok(Math.abs(o.nig.F[0] - o.nig.F[1]) > 1e-3, 'the baseline moves F (the path is not empty)');
  });
}

S('ir-neurons demo under the default limits (CPU class): every known-answer check passes, the report is written', () => {
  const out = mkdtempSync(join(tmpdir(), 'limits-demo-'));
  try {
    const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'demo', '--out', out, '--steps', '12'], { encoding: 'utf8', env: env('cpu') });
    assert.is(r.status, 0, r.stdout.slice(-2000) + r.stderr);
    assert.ok(existsSync(join(out, 'report.html')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

S.run();
