/**
 * attributions.safetensors, the per-pair output of `ir-neurons attribute --pairs` and of the web page (float32,
 * per pair id: .nig, .nig_segments, .ig_embed, .F, .delta, .delta_hidden, and with an error estimate .steps and
 * .error_estimate; metadata format/units/rule). No Node
 * imports: the CLI and the browser bundle share it.
 */
import type { NigResult } from './engine.ts';
import { serializeSafetensors, type WriteTensor } from '../formats/safetensors.ts';
import { UserError } from '../util/errors.ts';

export type Units = 'ffn-pre' | 'ffn-post';

/** The items `--units` takes (a comma-separated list; `attribute.units` of an experiment file the same). */
export const UNIT_CHOICES = ['ffn-pre', 'ffn-post', 'heads'] as const;

/**
 * A `--units` list: the FFN units (ffn-pre unless ffn-post is named; one of them) and whether heads are attributed
 * too; `label` is what run keys and manifests record (the FFN units alone when no heads: as before the list).
 */
export function parseUnits(list: string, what = 'option --units'): { ffn: Units; heads: boolean; label: string } {
  const items = list.split(',');
  if (items.includes('ffn-pre') && items.includes('ffn-post')) throw new UserError(`${what} '${list}': ffn-pre and ffn-post are two views of the same units; name one`);
  if (new Set(items).size !== items.length) throw new UserError(`${what} '${list}': an item is named twice`);
  const ffn: Units = items.includes('ffn-post') ? 'ffn-post' : 'ffn-pre';
  const heads = items.includes('heads');
  return { ffn, heads, label: heads ? `${ffn},heads` : ffn };
}

/** The tensors a pair contributes to attributions.safetensors. */
export function pairTensors(id: string, r: NigResult, units: Units, L: number, F: number, C: number): [string, WriteTensor][] {
  const pre = units === 'ffn-pre';
  const tokens = pre ? r.nigPreTokens : r.nigPostTokens;
  return [
    [`${id}.nig`, tokens ? { dtype: 'F32', shape: [L, r.T, F], data: tokens } : { dtype: 'F32', shape: [L, F], data: pre ? r.nigPre : r.nigPost }],
    [`${id}.nig_segments`, { dtype: 'F32', shape: [5, L, F], data: pre ? r.nigPreSegments : r.nigPostSegments }],
    // (T, E): the embedding width, C but in ELECTRA (embedding_size)
    [`${id}.ig_embed`, { dtype: 'F32', shape: [r.T, r.T ? r.igEmbed.length / r.T : C], data: r.igEmbed }],
    [`${id}.F`, { dtype: 'F32', shape: [r.steps + 1], data: r.F }],
    [`${id}.delta`, { dtype: 'F32', shape: [1], data: Float32Array.of(r.igDelta) }],
    [`${id}.delta_hidden`, { dtype: 'F32', shape: [L + 1], data: Float32Array.from(r.hiddenDeltas) }],
    // with --tol or richardson: the m used and the estimated relative error of the NIG vector
    // with heads: head conductance and the head-gate gradient [layers, heads], the conductance per segment [5, layers, heads]
    ...(r.headCond === undefined ? [] : [
      [`${id}.head_cond`, { dtype: 'F32', shape: [L, r.headCond.length / L], data: r.headCond }],
      [`${id}.head_cond_segments`, { dtype: 'F32', shape: [5, L, r.headCond.length / L], data: r.headCondSegments! }],
      [`${id}.head_gate`, { dtype: 'F32', shape: [L, r.headCond.length / L], data: r.headGate! }],
    ] as [string, WriteTensor][]),
    ...(r.errorEstimate === undefined ? [] : [
      [`${id}.steps`, { dtype: 'I32', shape: [1], data: Int32Array.of(r.steps) }],
      [`${id}.error_estimate`, { dtype: 'F32', shape: [1], data: Float32Array.of(r.errorEstimate) }],
    ] as [string, WriteTensor][]),
  ];
}

/** attributions.safetensors bytes for the attributed pairs, with the CLI's metadata. */
export function attributionsSafetensors(pairs: { id: string; result: NigResult }[], units: Units, dims: { L: number; F: number; C: number }, label: string = units): Uint8Array {
  const tensors: [string, WriteTensor][] = [];
  for (const p of pairs) tensors.push(...pairTensors(p.id, p.result, units, dims.L, dims.F, dims.C));
  const rule = pairs[0]?.result.rule ?? 'right';
  return serializeSafetensors(new Map(tensors), { format: 'ir-neurons', units: label, rule });
}
