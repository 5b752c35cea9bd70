/**
 * The page's export: attributions.safetensors in the CLI's layout (float32, per pair id: .nig, .nig_segments,
 * .ig_embed, .F, .delta, .delta_hidden; metadata format/units/rule), so that the analysis tools read both alike.
 *
 * DUPLICATION: `pairTensors` repeats src/cli/attribute.ts's function of the same name line for line, because that
 * module imports node:fs and cannot enter the browser bundle. test/browser.test.ts checks that the two give the same
 * names, shapes and values. Moving pairTensors into a Node-free module (e.g. src/ig/export.ts) would remove this copy.
 */
import type { NigResult } from '../ig/engine.ts';
import { serializeSafetensors, type WriteTensor } from '../model/safetensors.ts';

export type Units = 'ffn-pre' | 'ffn-post';

/** The tensors a pair contributes to attributions.safetensors (same as src/cli/attribute.ts). */
export function pairTensors(id: string, r: NigResult, units: Units, L: number, F: number, C: number): [string, WriteTensor][] {
  const pre = units === 'ffn-pre';
  const tokens = pre ? r.nigPreTokens : r.nigPostTokens;
  return [
    [`${id}.nig`, tokens ? { dtype: 'F32', shape: [L, r.T, F], data: tokens } : { dtype: 'F32', shape: [L, F], data: pre ? r.nigPre : r.nigPost }],
    [`${id}.nig_segments`, { dtype: 'F32', shape: [5, L, F], data: pre ? r.nigPreSegments : r.nigPostSegments }],
    [`${id}.ig_embed`, { dtype: 'F32', shape: [r.T, C], data: r.igEmbed }],
    [`${id}.F`, { dtype: 'F32', shape: [r.steps + 1], data: r.F }],
    [`${id}.delta`, { dtype: 'F32', shape: [1], data: Float32Array.of(r.igDelta) }],
    [`${id}.delta_hidden`, { dtype: 'F32', shape: [L + 1], data: Float32Array.from(r.hiddenDeltas) }],
  ];
}

/** attributions.safetensors bytes for the attributed pairs, with the CLI's metadata. */
export function attributionsSafetensors(pairs: { id: string; result: NigResult }[], units: Units, dims: { L: number; F: number; C: number }): Uint8Array {
  const tensors: [string, WriteTensor][] = [];
  for (const p of pairs) tensors.push(...pairTensors(p.id, p.result, units, dims.L, dims.F, dims.C));
  const rule = pairs[0]?.result.rule ?? 'right';
  return serializeSafetensors(new Map(tensors), { format: 'ir-neurons', units, rule });
}
