/**
 * The activation memory plan: one table per (config, batch, tokens, what is kept) naming every buffer, its shape and
 * its bytes. The forward (src/model/forward.ts) and backward (src/model/backward.ts) passes bind what it lists, the
 * NIG engine sizes its chunks from it (src/ig/layout.ts adds the attribution sums), the NIG benchmark and
 * `tools/layout-table.ts` (docs/architecture.md) print it. Nothing else computes activation bytes.
 *
 * A layout is a list of distinct buffers plus typed handles: a handle is a buffer's name, grouped as the passes
 * use them (per layer, per slot). `bindLayout` turns the handles into arena views of the same shape, so code
 * addresses buffers as `act.layers[l].qkv`, never by strings built at run time.
 */
import { Arena, packViews, type PackLimits, type View } from '../gpu/arena.ts';
import { UserError } from '../util/errors.ts';
import { MAX_T } from '../kernels/attention.ts';
import type { BertConfig } from './types.ts';
import { embeddingSize, positionRows } from './config.ts';

export interface BufferSpec {
  name: string;
  shape: number[];
  dtype: 'f32' | 'u32';
  bytes: number;
  what: string;   // one line: what it holds
}

/** A layout: its buffers in reservation order, and handles (buffer names) grouped as `H`. */
export interface Layout<H> {
  label: string;
  buffers: BufferSpec[];
  handles: H;
}

/** Handles with every name replaced by the arena view of that buffer. */
export type Bound<H> = H extends null ? null : H extends string ? View : H extends readonly (infer E)[] ? Bound<E>[] : { [K in keyof H]: Bound<H[K]> };

/** Collects buffers for a layout; `add` returns the handle (the name), `shared` adds a name once and reuses it. */
export class LayoutBuilder {
  readonly buffers: BufferSpec[] = [];
  private names = new Set<string>();

  add(name: string, shape: number[], what: string, dtype: 'f32' | 'u32' = 'f32'): string {
    if (this.names.has(name)) throw new Error(`layout: buffer '${name}' listed twice`);
    this.names.add(name);
    this.buffers.push({ name, shape, dtype, bytes: 4 * shape.reduce((a, b) => a * b, 1), what });
    return name;
  }

  /** The buffer `name`, added on first use (a scratch buffer several steps share). */
  shared(name: string, shape: number[], what: string): string {
    return this.names.has(name) ? name : this.add(name, shape, what);
  }
}

/**
 * What each layer's attention keeps for its backward (src/kernels/): 'probs', the (B, NH, T, T) probabilities (the
 * CPU class's kernels and the per-row ones); 'lse', fused attention's (the GPU class, src/kernels/attention-flash.ts):
 * the attention output (B·T, C) and the row log-sum-exp (B, NH, T), the backward a (B, NH, T) scratch instead of the
 * (B, NH, T, T) one.
 */
export type AttentionSaved = 'probs' | 'lse';

/** Rows of the `words` table beyond one per token: the baselines' pad, mask and unk ids, and one spare. */
export const WORD_ROWS_EXTRA = 4;

/** Which activations a plan keeps. */
export interface ActivationShape {
  B: number;     // sequences (pairs, or interpolation points) in the batch
  T: number;     // padded length
  save: boolean; // keep every layer's activations and reserve the backward pass's scratch
  /** What the attention keeps: 'probs' (the CPU class's kernels) or 'lse' (the GPU class's fused attention; `BertGpu.attention`). Default 'probs'. */
  attention?: AttentionSaved;
  /** With `save`: keep every layer's attention output (the heads' context c) where the attention alone would not ('probs'): heads are attributed. */
  context?: boolean;
}

export interface LayerHandles {
  qkv: string;    // (B·T, 3C) Q, K, V side by side             saved
  probs: string | null; // (B, NH, T, T) attention probabilities  saved ('probs')
  lse: string | null;   // (B, NH, T) row log-sum-exp; the last layer (B, NH, 1)  saved ('lse')
  att: string;    // (B·T, C) attention output before projection  scratch ('probs'); saved ('lse'), the last layer (B, C)
  ao: string;     // (B·T, C) attention projection                scratch
  s1: string;     // (B·T, C) LN1 input (residual sum)          saved
  stats1: string; // (B·T, 2) LN1 mean, rstd                    saved
  h1: string;     // (B·T, C) LN1 output                        saved
  pre: string;    // (B·T, d_ff) FFN pre-activation (masked)    saved
  post: string;   // (B·T, d_ff) GELU output                      scratch
  o: string;      // (B·T, C) FFN down projection                 scratch
  s2: string;     // (B·T, C) LN2 input                         saved
  stats2: string; // (B·T, 2) LN2 mean, rstd                    saved
}

export interface BackwardHandles {
  dh: [string, string]; // (B·T, C) gradient w.r.t. the hidden states, ping-pong
  ds: string; dh1: string; datt: string; // (B·T, C)
  ds0: string;          // (B·T, E) gradient w.r.t. the embeddings sum (the word vectors)
  de0: string | null;   // (B·T, E) ELECTRA's embeddings LN output gradient (embeddings_project's input), else null
  dqkv: string;         // (B·T, 3C)
  dpre: string; dpost: string; // (B·T, d_ff)
  dS: string | null;    // (B, NH, T, T) softmax-backward scores ('probs')
  D: string | null;     // (B, NH, T) rowsum(dout ∘ out) ('lse')
  F: string;            // (B) the attributed output of each sequence
}

export interface ActivationHandles {
  tok: string; alpha: string; amask: string;
  /** cfg.hostWords: the batch's distinct word rows (B·T + 4, E), which the token table's ids index; else null. */
  words: string | null;
  s0: string; stats0: string; // (B·T, E), (B·T, 2)
  /** ELECTRA (E ≠ C): the embeddings LN output (B·T, E), embeddings_project's input; else null (LN writes h[0]). */
  e0: string | null;
  /** Layer outputs h[0] (embeddings LN) .. h[L]; without `save` two buffers alternate. h[L] holds the [CLS] rows
   * only, (B, C) (the first B rows of the alternating buffer without `save`). */
  h: string[];
  /** The last layer runs after its attention on the [CLS] rows alone: its attention output and residual gathered
   * there (B, C); in the backward, the gradients of both before they are scattered back to every row. */
  cls: { att: string; res: string };
  layers: LayerHandles[];
  pooled: string; logits: string;
  back: BackwardHandles | null;
}

export type ActivationLayout = Layout<ActivationHandles> & ActivationShape;

/** The activation table of one plan. The order is the reservation (and packing) order. */
export function activationLayout(cfg: BertConfig, { B, T, save, attention = 'probs', context = false }: ActivationShape): ActivationLayout {
  const { hidden: C, intermediate: F, heads: NH, layers: L, numLabels: NL } = cfg;
  const E = embeddingSize(cfg);
  const N = B * T;
  const b = new LayoutBuilder();
  // per layer when saving, one scratch buffer shared by every layer otherwise
  const kept = (what: string, l: number, shape: number[], doc: string) => (save ? b.add(`${what}.${l}`, shape, doc) : b.shared(what, shape, doc));
  const tok = b.add('tok', [N, 4], 'token table: id, baseline id, type id, position id', 'u32');
  const alpha = b.add('alpha', [B], 'path position α of each sequence');
  const amask = b.add('amask', [N], 'attention mask: 1 token, 0 padding');
  // (distinct ids of a batch: at most one per token, plus the baselines' pad, mask and unk)
  const words = cfg.hostWords ? b.add('words', [N + WORD_ROWS_EXTRA, E], 'the batch\'s word embedding rows (gathered on the host)') : null;
  const s0 = b.add('s0', [N, E], 'embeddings sum (LN input)');
  const stats0 = b.add('stats0', [N, 2], 'embeddings LN mean, rstd');
  const e0 = E !== C ? b.add('e0', [N, E], 'embeddings LN output (embeddings_project input)') : null;
  const h = [b.add('h.0', [N, C], e0 ? 'embeddings_project output' : 'embeddings LN output')];
  const layers: LayerHandles[] = [];
  for (let l = 0; l < L; l++) {
    // the last layer after its attention: the [CLS] rows alone (B of them)
    const R = l === L - 1 ? B : N;
    const at = l === L - 1 ? ' ([CLS] rows)' : '';
    const lse = attention === 'lse';
    layers.push({
      qkv: kept('qkv', l, [N, 3 * C], 'Q, K, V'),
      probs: lse ? null : kept('probs', l, [B, NH, T, T], 'attention probabilities'),
      // fused attention: the last layer's queries are its [CLS] rows alone
      lse: lse ? kept('lse', l, [B, NH, R / B], 'attention row log-sum-exp' + at) : null,
      att: lse ? kept('att', l, [R, C], 'attention output (heads concatenated)' + at) : save && context ? kept('att', l, [N, C], 'attention output (heads concatenated), kept for the heads') : b.shared('att', [N, C], 'attention output (heads concatenated)'),
      ao: b.shared('ao', [N, C], 'attention output projection'),
      s1: kept('s1', l, [R, C], 'LN1 input' + at),
      stats1: kept('stats1', l, [R, 2], 'LN1 mean, rstd' + at),
      h1: kept('h1', l, [R, C], 'LN1 output' + at),
      pre: kept('pre', l, [R, F], 'FFN pre-activation (masked)' + at),
      post: b.shared('post', [N, F], 'FFN GELU output'),
      o: b.shared('o', [N, C], 'FFN down projection'),
      s2: kept('s2', l, [R, C], 'LN2 input' + at),
      stats2: kept('stats2', l, [R, 2], 'LN2 mean, rstd' + at),
    });
    h.push(save ? b.add(`h.${l + 1}`, [R, C], `layer ${l} output${at}`) : b.shared(`h.${(l + 1) % 2}`, [N, C], 'layer output (alternating)'));
  }
  const cls = { att: b.add('cls.att', [B, C], 'the last layer\'s attention output at [CLS]; backward: its gradient'), res: b.add('cls.res', [B, C], 'the last layer\'s residual input at [CLS]; backward: the LN1 input\'s gradient') };
  const pooled = b.add('pooled', [B, C], 'head dense output before its activation');
  const logits = b.add('logits', [B, NL], 'classifier logits');
  let back: BackwardHandles | null = null;
  if (save) {
    const g = (n: string, what: string) => b.add(n, [N, C], what);
    const dh: [string, string] = [g('dh.0', 'dF/dh (ping)'), g('dh.1', 'dF/dh (pong)')];
    back = {
      dh, ds: g('ds', 'dF/d LN input'), dh1: g('dh1', 'dF/d LN1 output'), datt: g('datt', 'dF/d attention output'),
      ds0: b.add('ds0', [N, E], 'dF/d embeddings sum'), de0: e0 ? b.add('de0', [N, E], 'dF/d embeddings LN output') : null,
      dqkv: b.add('dqkv', [N, 3 * C], 'dF/d Q, K, V'),
      dpre: b.add('dpre', [N, F], 'dF/d FFN pre-activation'),
      dpost: b.add('dpost', [N, F], 'dF/d FFN GELU output'),
      dS: attention === 'probs' ? b.add('dS', [B, NH, T, T], 'softmax-backward scores') : null,
      D: attention === 'lse' ? b.add('D', [B, NH, T], 'attention backward: rowsum(dout ∘ out)') : null,
      F: b.add('F', [B], 'attributed output F'),
    };
  }
  return { label: `activations ${B}x${T}`, B, T, save, buffers: b.buffers, handles: { tok, alpha, amask, words, s0, stats0, e0, h, cls, layers, pooled, logits, back } };
}

export interface WeightLayerHandles {
  qkvW: string; qkvB: string;   // (3C, C), (3C): Q, K, V stacked
  aoW: string; aoB: string;     // (C, C), (C)
  ln1G: string; ln1B: string;   // (C)
  iW: string; iB: string;       // (d_ff, C), (d_ff)
  oW: string; oB: string;       // (C, d_ff), (C)
  ln2G: string; ln2B: string;   // (C)
  mask: string;                 // (d_ff) FFN neuron mask: 1 keep, 0 prune
}

export interface WeightHandles {
  wordEmb: string | null; // null with cfg.hostWords (the host gathers each batch's rows: ActivationHandles.words)
  posEmb: string; typeEmb: string; embLnG: string; embLnB: string; // (V, E), (P, E), (TV, E), (E)
  projW: string | null; projB: string | null; // ELECTRA's embeddings_project (C, E), (C) when E ≠ C
  /** The head: dense (pooler / classifier.dense / pre_classifier) (C, C), (C); output layer (NL, C), (NL). */
  poolW: string; poolB: string; clsW: string; clsB: string;
  layers: WeightLayerHandles[];
}

/** The weights on the GPU (uploaded once by BertGpu), with the neuron masks beside them. */
export function weightLayout(cfg: BertConfig): Layout<WeightHandles> {
  const { hidden: C, intermediate: F, numLabels: NL } = cfg;
  const E = embeddingSize(cfg);
  const b = new LayoutBuilder();
  const top = {
    wordEmb: cfg.hostWords ? null : b.add('wordEmb', [cfg.vocabSize, E], 'word embeddings'), posEmb: b.add('posEmb', [positionRows(cfg), E], 'position embeddings'),
    typeEmb: b.add('typeEmb', [cfg.typeVocab, E], 'token type embeddings'), embLnG: b.add('embLnG', [E], 'embeddings LN gamma'), embLnB: b.add('embLnB', [E], 'embeddings LN beta'),
    projW: E !== C ? b.add('projW', [C, E], 'embeddings_project weight') : null, projB: E !== C ? b.add('projB', [C], 'embeddings_project bias') : null,
    poolW: b.add('poolW', [C, C], 'head dense weight (pooler)'), poolB: b.add('poolB', [C], 'head dense bias'), clsW: b.add('clsW', [NL, C], 'classifier weight'), clsB: b.add('clsB', [NL], 'classifier bias'),
  };
  const layers: WeightLayerHandles[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const w = (n: string, shape: number[], what: string) => b.add(`${n}.${l}`, shape, `layer ${l} ${what}`);
    layers.push({
      qkvW: w('qkvW', [3 * C, C], 'Q, K, V weights'), qkvB: w('qkvB', [3 * C], 'Q, K, V biases'), aoW: w('aoW', [C, C], 'attention output weight'), aoB: w('aoB', [C], 'attention output bias'),
      ln1G: w('ln1G', [C], 'LN1 gamma'), ln1B: w('ln1B', [C], 'LN1 beta'), iW: w('iW', [F, C], 'FFN up weight'), iB: w('iB', [F], 'FFN up bias'),
      oW: w('oW', [C, F], 'FFN down weight'), oB: w('oB', [C], 'FFN down bias'), ln2G: w('ln2G', [C], 'LN2 gamma'), ln2B: w('ln2B', [C], 'LN2 beta'),
      mask: w('mask', [F], 'FFN neuron mask'),
    });
  }
  return { label: 'weights', buffers: b.buffers, handles: { ...top, layers } };
}

/** Bytes the arena allocates for these layouts (each its own arena), alignment padding included. */
export function layoutBytes(limits: PackLimits, ...layouts: Layout<unknown>[]): number {
  let total = 0;
  for (const l of layouts) for (const buf of packViews(l.buffers.map((x) => ({ name: x.name, size: x.bytes })), limits)) total += buf.size;
  return total;
}

/** The largest single buffer of these layouts (each must fit one storage binding). */
export function largestBuffer(...layouts: Layout<unknown>[]): BufferSpec {
  let best: BufferSpec | null = null;
  for (const l of layouts) for (const b of l.buffers) if (!best || b.bytes > best.bytes) best = b;
  return best!;
}

/** Reserves a layout's buffers in an arena, builds it (inside error scopes) and binds the handles. */
export async function allocateLayout<H>(arena: Arena, layout: Layout<H>): Promise<Bound<H>> {
  for (const b of layout.buffers) arena.reserve(b.name, b.bytes);
  await arena.buildChecked();
  return bindLayout(arena, layout.handles);
}

/** The handles of a built arena as views. */
export function bindLayout<H>(arena: Arena, handles: H): Bound<H> {
  const bind = (h: unknown): unknown => {
    if (h === null) return null;
    if (typeof h === 'string') return arena.view(h);
    if (Array.isArray(h)) return h.map(bind);
    return Object.fromEntries(Object.entries(h as object).map(([k, v]) => [k, bind(v)]));
  };
  return bind(handles) as Bound<H>;
}

/**
 * The padded length a sequence of `len` tokens runs at: the next multiple of 8 (so pairs of similar lengths share
 * plans and batches), capped by the model's positions and the attention kernels' MAX_T.
 */
export function paddedLength(cfg: BertConfig, len: number): number {
  const cap = Math.min(MAX_T, cfg.maxPositions);
  if (len > cap) {
    throw new UserError(len > cfg.maxPositions
      ? `pair of ${len} tokens exceeds the model's max_position_embeddings ${cfg.maxPositions}; lower --max-length`
      : `pair of ${len} tokens exceeds the attention kernels' limit of ${MAX_T}; use --max-length ${MAX_T} or less`);
  }
  return Math.min(Math.ceil(len / 8) * 8, cap);
}

/** A layout as a Markdown table (docs, benchmarks). */
export function layoutTable(...layouts: Layout<unknown>[]): string {
  const fmt = (n: number) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
  const rows = ['| arena | buffer | shape | dtype | bytes | holds |', '|---|---|---|---|---:|---|'];
  for (const l of layouts) for (const b of l.buffers) rows.push(`| ${l.label} | \`${b.name}\` | ${b.shape.join(' × ')} | ${b.dtype} | ${fmt(b.bytes)} | ${b.what} |`);
  return rows.join('\n');
}
