/** Dispatch builders for shaders/embeddings/. */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { dispatch, grid, uniform, type Dispatch } from '../gpu/pipelines.ts';

export interface EmbeddingsArgs {
  label: string;
  tok: View;    // (B·T, 4) u32: id, baseId, typeId, 0
  alpha: View;  // (B)
  wordEmb: View; posEmb: View; typeEmb: View;
  s: View;      // (B·T, C)
  rows: number; T: number; C: number;
}

export async function embeddingsForward(g: Gpu, a: EmbeddingsArgs): Promise<Dispatch> {
  const k = await g.pipelines.get({
    shader: 'embeddings/embeddings_forward.wgsl',
    bindings: ['read', 'read', 'read', 'read', 'read', 'rw', 'uniform'],
    constants: { WG: 64 },
  });
  const u = uniform(g, `${a.label} params`, [a.rows, a.T, a.C, 0]);
  return dispatch(g, k, a.label, [a.tok, a.alpha, a.wordEmb, a.posEmb, a.typeEmb, a.s, u], grid(g, a.rows));
}
