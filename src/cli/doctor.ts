/** `ir-neurons doctor`: prints the WebGPU adapter, its features and limits. */
import { requestGpu } from '../gpu/node.ts';
import { describeGpu } from '../gpu/device.ts';

export async function run(_argv: string[]): Promise<number> {
  const g = await requestGpu();
  process.stdout.write(`${describeGpu(g)}\n`);
  return 0;
}
