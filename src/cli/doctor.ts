/** `ir-neurons doctor`: prints the WebGPU adapter, its features and limits, and the environment a run would record. */
import { requestGpu } from '../gpu/node.ts';
import { describeGpu } from '../gpu/device.ts';
import { describeEnvironment, runEnvironment } from '../run/environment.ts';
import { parseArgs, type CommandSpec } from './args.ts';
import { UserError } from '../util/errors.ts';

export const command: CommandSpec = {
  name: 'doctor', usage: '', summary: 'Prints the WebGPU adapter, its features and limits, and the environment runs record (package, Node, OS, CPU).', options: {}, examples: ['ir-neurons doctor'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('doctor', argv, command);
  if (a.positionals.length) throw new UserError(`doctor takes no arguments, got '${a.positionals[0]}'`);
  const g = await requestGpu();
  process.stdout.write(`${describeGpu(g)}\n${describeEnvironment(runEnvironment(g))}\n`);
  return 0;
}
