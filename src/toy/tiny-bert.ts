/**
 * Writes a tiny random BertForSequenceClassification checkpoint folder, deterministic from a seed:
 * `config.json` (Hugging Face field names), `model.safetensors` (HF tensor names, `bert.` prefix),
 * `vocab.txt` (toy WordPiece vocabulary) and `tokenizer_config.json`.
 *
 *   node --import tsx tools/make-tiny-bert.ts --out weights/tiny [--seed 1] [--hidden 32] [--layers 2]
 *        [--heads 2] [--intermediate 64] [--labels 2] [--max-positions 128] [--dtype F32|F16|BF16]
 *
 * Init: embeddings, linear weights and biases ~ N(0, 0.1) (biases random, not zero, so tests see them);
 * LayerNorm weight 1 + N(0, 0.05), bias N(0, 0.05); the [PAD] row of the word embeddings is zero, as in HF.
 */
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { makeDir, writeFileAtomic } from '../util/atomic.ts';
import { mulberry32 } from '../util/rng.ts';
import { toyVocab } from './vocab.ts';

export type TinyDtype = 'F32' | 'F16' | 'BF16';

export interface TinyBertOptions {
  out: string;
  seed?: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  intermediate?: number;
  labels?: number;
  maxPositions?: number;
  dtype?: TinyDtype;
}

export interface FloatTensor {
  shape: number[];
  data: Float32Array;
}

/** Standard normal samples by Box-Muller on a uniform generator. */
function normal(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** float32 -> IEEE half bits, round to nearest even (overflow to infinity, subnormals kept). */
export function f32ToF16Bits(v: number): number {
  f32[0] = v;
  const x = f32Bits[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // half exponent field
  if (e >= 0x1f) return sign | 0x7c00;
  let m: number, shift: number, base: number;
  if (e <= 0) {
    if (e < -10) return sign;
    m = mant | 0x800000; shift = 14 - e; base = 0;   // subnormal half: units of 2^-24
  } else {
    m = mant; shift = 13; base = e << 10;
  }
  const h = m >>> shift, rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
  const up = rem > half || (rem === half && (h & 1) === 1) ? 1 : 0;
  return sign | (base + h + up); // a carry into the exponent is the correct rounding
}

/** float32 -> bfloat16 bits, round to nearest even. */
export function f32ToBf16Bits(v: number): number {
  f32[0] = v;
  const x = f32Bits[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Serialises float tensors to safetensors bytes in the given dtype (insertion order). */
export function encodeSafetensors(tensors: Map<string, FloatTensor>, dtype: TinyDtype, metadata?: Record<string, string>): Uint8Array {
  const size = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + t.data.length * size] };
    off += t.data.length * size;
  }
  // Padded with spaces to a multiple of 8 UTF-8 bytes (not UTF-16 units: metadata may be non-ASCII).
  const json = new TextEncoder().encode(JSON.stringify(header));
  const hbytes = new Uint8Array(Math.ceil((8 + json.length) / 8) * 8 - 8).fill(0x20);
  hbytes.set(json);
  const out = new Uint8Array(8 + hbytes.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const [, t] of tensors) {
    for (let i = 0; i < t.data.length; i++, p += size) {
      if (dtype === 'F32') dv.setFloat32(p, t.data[i], true);
      else dv.setUint16(p, dtype === 'F16' ? f32ToF16Bits(t.data[i]) : f32ToBf16Bits(t.data[i]), true);
    }
  }
  return out;
}

type ShapeOptions = Omit<TinyBertOptions, 'out'>;

function checkOptions(o: ShapeOptions): Required<ShapeOptions> {
  const r: Required<ShapeOptions> = {
    seed: o.seed ?? 1, hidden: o.hidden ?? 32, layers: o.layers ?? 2, heads: o.heads ?? 2,
    intermediate: o.intermediate ?? 64, labels: o.labels ?? 2, maxPositions: o.maxPositions ?? 128, dtype: o.dtype ?? 'F32',
  };
  for (const k of ['hidden', 'layers', 'heads', 'intermediate', 'maxPositions'] as const) {
    if (!Number.isInteger(r[k]) || r[k] <= 0) throw new UserError(`make-tiny-bert: ${k} must be a positive integer, found ${r[k]}`);
  }
  if (!Number.isInteger(r.seed)) throw new UserError(`make-tiny-bert: seed must be an integer, found ${r.seed}`);
  if (r.hidden % r.heads !== 0) throw new UserError(`make-tiny-bert: hidden ${r.hidden} is not a multiple of heads ${r.heads}`);
  if (r.labels !== 1 && r.labels !== 2) throw new UserError(`make-tiny-bert: labels must be 1 or 2, found ${r.labels}`);
  if (!['F32', 'F16', 'BF16'].includes(r.dtype)) throw new UserError(`make-tiny-bert: dtype must be F32, F16 or BF16, found ${r.dtype}`);
  return r;
}

/** The float32 state dict (HF names, `bert.` prefix) that makeTinyBert writes for these options. */
export function tinyBertStateDict(opts: ShapeOptions): Map<string, FloatTensor> {
  const o = checkOptions(opts);
  const V = toyVocab().length, C = o.hidden, F = o.intermediate;
  const randn = normal(mulberry32(o.seed));
  const sd = new Map<string, FloatTensor>();
  const add = (name: string, shape: number[], init: (i: number) => number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = init(i);
    sd.set(name, { shape, data });
  };
  const w = () => 0.1 * randn();
  const lnW = () => 1 + 0.05 * randn();
  const lnB = () => 0.05 * randn();
  add('bert.embeddings.word_embeddings.weight', [V, C], (i) => { const v = w(); return i < C ? 0 : v; }); // [PAD] row zero
  add('bert.embeddings.position_embeddings.weight', [o.maxPositions, C], w);
  add('bert.embeddings.token_type_embeddings.weight', [2, C], w);
  add('bert.embeddings.LayerNorm.weight', [C], lnW);
  add('bert.embeddings.LayerNorm.bias', [C], lnB);
  const linear = (name: string, out: number, inp: number) => {
    add(`${name}.weight`, [out, inp], w); // (out, in)
    add(`${name}.bias`, [out], w);
  };
  for (let l = 0; l < o.layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    linear(`${p}attention.self.query`, C, C);
    linear(`${p}attention.self.key`, C, C);
    linear(`${p}attention.self.value`, C, C);
    linear(`${p}attention.output.dense`, C, C);
    add(`${p}attention.output.LayerNorm.weight`, [C], lnW);
    add(`${p}attention.output.LayerNorm.bias`, [C], lnB);
    linear(`${p}intermediate.dense`, F, C);
    linear(`${p}output.dense`, C, F);
    add(`${p}output.LayerNorm.weight`, [C], lnW);
    add(`${p}output.LayerNorm.bias`, [C], lnB);
  }
  linear('bert.pooler.dense', C, C);
  linear('classifier', o.labels, C);
  return sd;
}

/** Writes the checkpoint folder `opts.out` (created if needed). */
export function makeTinyBert(opts: TinyBertOptions): void {
  if (!opts.out) throw new UserError('make-tiny-bert: --out DIR is required');
  const o = { ...checkOptions(opts), out: opts.out };
  const vocab = toyVocab();
  const labels = Array.from({ length: o.labels }, (_, i) => `LABEL_${i}`);
  const config = {
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    vocab_size: vocab.length,
    hidden_size: o.hidden,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    intermediate_size: o.intermediate,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    max_position_embeddings: o.maxPositions,
    type_vocab_size: 2,
    initializer_range: 0.1,
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[o.dtype],
  };
  makeDir(o.out);
  writeFileAtomic(join(o.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileAtomic(join(o.out, 'model.safetensors'), encodeSafetensors(tinyBertStateDict(o), o.dtype, { format: 'pt' }));
  writeFileAtomic(join(o.out, 'vocab.txt'), vocab.join('\n') + '\n');
  writeFileAtomic(join(o.out, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: true, model_max_length: 512 }, null, 2) + '\n');
}

/** The options of tools/make-tiny-bert.ts from its command line. */
export function parseArgs(argv: string[]): TinyBertOptions {
  const o: TinyBertOptions = { out: '' };
  const ints: Record<string, keyof TinyBertOptions> = {
    '--seed': 'seed', '--hidden': 'hidden', '--layers': 'layers', '--heads': 'heads',
    '--intermediate': 'intermediate', '--labels': 'labels', '--max-positions': 'maxPositions',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i], val = argv[i + 1];
    if (val === undefined) throw new UserError(`make-tiny-bert: ${flag} needs a value`);
    if (flag === '--out') o.out = val;
    else if (flag === '--dtype') o.dtype = val.toUpperCase() as TinyDtype;
    else if (flag in ints) {
      if (!/^-?\d+$/.test(val)) throw new UserError(`make-tiny-bert: ${flag} expects an integer, found '${val}'`);
      (o as unknown as Record<string, number>)[ints[flag]] = Number(val);
    } else {
      throw new UserError(`make-tiny-bert: unknown option '${flag}'; options: --out --seed --hidden --layers --heads --intermediate --labels --max-positions --dtype`);
    }
    i++;
  }
  return o;
}
