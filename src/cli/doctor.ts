/**
 * `ir-neurons doctor`: prints the WebGPU adapter, its features and limits, and the environment a run would record.
 * `--tune` tunes the matmul kernels now (src/gpu/autotune.ts) for the products of one NIG chunk of a shape (the
 * engine's own dispatch list: src/bench/chunk-walk.ts), on any adapter, and prints each pick and the time taken.
 */
import { requestGpu } from '../gpu/node.ts';
import { describeGpu } from '../gpu/device.ts';
import { adapterKey, FIRST_USE_BUDGET_S, softwareAdapter, tuneMode, tuneStore } from '../gpu/autotune.ts';
import { shapeClass, tuneMatmuls, type MatmulShape } from '../kernels/matmul.ts';
import { BENCH_SHAPES, benchConfig, matmulShapes, walkChunk, type BenchShape } from '../bench/chunk-walk.ts';
import { describeEnvironment, runEnvironment } from '../run/environment.ts';
import { parseArgs, type CommandSpec } from './args.ts';
import { UserError } from '../util/errors.ts';

export const command: CommandSpec = {
  name: 'doctor', usage: '', summary: 'Prints the WebGPU adapter, its features and limits, and the environment runs record (package, Node, OS, CPU); --tune tunes the matmul kernels for this adapter now.',
  options: {
    tune: { kind: 'boolean', help: `tune the matmul kernels now for the products of one NIG chunk (--tune-shape, --tokens, --points), on any adapter, and cache the picks (runs tune on first use by themselves on a hardware adapter, at most ${FIRST_USE_BUDGET_S} s; never on a software one)` },
    'tune-shape': { kind: 'string', arg: 'SHAPE', choices: Object.keys(BENCH_SHAPES), default: 'base', help: 'the model shape whose products --tune tunes' },
    tokens: { kind: 'int', arg: 'T', default: 256, min: 8, help: 'padded tokens per pair for --tune' },
    points: { kind: 'int', arg: 'P', default: 51, min: 1, help: 'path points per chunk for --tune (51: m = 50 in one chunk)' },
    'tune-budget': { kind: 'number', arg: 'SECONDS', min: 0, exclusiveMin: true, help: 'stop trying new candidates after this long; each shape keeps the best tried so far (default: no limit)' },
  },
  examples: ['ir-neurons doctor', 'ir-neurons doctor --tune', 'ir-neurons doctor --tune --tune-shape large --tokens 512 --points 16'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('doctor', argv, command);
  if (a.positionals.length) throw new UserError(`doctor takes no arguments, got '${a.positionals[0]}'`);
  const g = await requestGpu();
  process.stdout.write(`${describeGpu(g)}\n${describeEnvironment(runEnvironment(g))}\n`);
  const mode = tuneMode(g);
  process.stdout.write(`matmul tuning on first use: ${mode}${process.env.IR_NEURONS_TUNE ? ' (IR_NEURONS_TUNE)' : ` (${softwareAdapter(g) ? 'software adapter: off unless IR_NEURONS_TUNE=1' : 'hardware adapter'})`}; cache ${tuneStore().where}\n`);
  if (!a.opts.tune) {
    for (const k of ['tune-shape', 'tokens', 'points', 'tune-budget']) if (a.given.has(k)) throw new UserError(`--${k} applies to --tune; add --tune`);
    return 0;
  }
  const shape = a.opts['tune-shape'] as BenchShape, T = a.opts.tokens as number, P = a.opts.points as number;
  const budget = a.opts['tune-budget'] as number | undefined;
  const walk = await walkChunk(benchConfig(shape), T, P);
  const byClass = new Map<string, MatmulShape>();
  for (const s of matmulShapes(walk.chunk)) if (!byClass.has(shapeClass(s))) byClass.set(shapeClass(s), s);
  process.stdout.write(`tuning ${byClass.size} matmul shape classes of one NIG chunk (${shape}, ${T} tokens, ${P} points) for ${adapterKey(g)}${budget ? `, budget ${budget} s` : ''}\n`);
  const t0 = performance.now();
  const deadline = budget ? t0 + budget * 1000 : undefined;
  let partial = 0, notKept = 0;
  for (const [cls, s] of byClass) {
    const t1 = performance.now();
    const [c] = await tuneMatmuls(g, [s], { deadline });
    if (c.partial) { if (Object.keys(c.timed).length === 1) notKept++; else partial++; }
    const tried = Object.keys(c.timed).length;
    process.stdout.write(`  ${cls}: ${c.variant} ${c.ms.toFixed(3)} ms = ${c.gflops.toFixed(1)} GFLOP/s (default ${c.defaultMs.toFixed(3)} ms, ${(c.defaultMs / c.ms).toFixed(2)}×; ${tried} timed${c.partial ? (tried === 1 ? ', budget ran out before any other: not kept' : ', budget ran out: partial') : ''}) in ${((performance.now() - t1) / 1000).toFixed(1)} s\n`);
  }
  process.stdout.write(`tuned in ${((performance.now() - t0) / 1000).toFixed(1)} s${partial ? `; ${partial} partial` : ''}${notKept ? `; ${notKept} not kept (the budget ran out before any candidate besides the default)` : ''}; picks kept in ${tuneStore().where}\n`);
  return 0;
}
