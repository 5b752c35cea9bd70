/** Dispatch builders for shaders/embeddings/. */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, dispatch, grid, type Dispatch } from '../gpu/pipelines.ts';

export const EMBEDDINGS_FORWARD = defineKernel({
  shader: 'embeddings/embeddings_forward.wgsl',
  bindings: { tok: 'read', alpha: 'read', wordEmb: 'read', posEmb: 'read', typeEmb: 'read', s: 'rw', p: 'uniform' },
  params: { rows: 'u32', T: 'u32', C: 'u32' },
});

export interface EmbeddingsArgs {
  label: string;
  tok: View;    // (B·T, 4) u32: id, baseId, typeId, 0
  alpha: View;  // (B)
  wordEmb: View; posEmb: View; typeEmb: View;
  s: View;      // (B·T, C)
  rows: number; T: number; C: number;
}

export async function embeddingsForward(g: Gpu, a: EmbeddingsArgs): Promise<Dispatch> {
  const k = await g.pipelines.get(EMBEDDINGS_FORWARD, { constants: { WG: 64 } });
  const p = createParams(g, k.def, `${a.label} params`, { rows: a.rows, T: a.T, C: a.C });
  return dispatch(g, k, a.label, { tok: a.tok, alpha: a.alpha, wordEmb: a.wordEmb, posEmb: a.posEmb, typeEmb: a.typeEmb, s: a.s, p }, grid(g, a.rows));
}
