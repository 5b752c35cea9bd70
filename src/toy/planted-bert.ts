/**
 * Writes a BertForSequenceClassification checkpoint (2 labels) with a hand-set relevance circuit on top of small
 * random weights: a known-answer model for NIG, in the spirit of Captum's hand-built toy models. The relevance
 * F = softmax(logits)[1] depends mostly on a few planted FFN units; everything else is N(0, 0.02)-sized noise.
 *
 *   node --import tsx tools/make-planted-bert.ts --out DIR [--seed 1] [--hidden 32] [--layers 2] [--heads 2]
 *        [--intermediate 64] [--planted 0:7,23,41/1:12,58]
 *
 * The circuit, over three reserved hidden dimensions (DET, REL, ANCHOR):
 * - embeddings: evidence words (src/toy/vocab.ts `evidenceWords`) have +1 on DET, every other token −1, [PAD] 0
 *   (the NIG baseline); every position has +1 on ANCHOR, so the embedding LayerNorm has a stable scale and maps
 *   evidence / [PAD] / other tokens to DET ≈ +3.6 / ≈ 0 / ≈ −3.7.
 * - layer 0, planted "detector" units: pre = WD · (h[DET] − THETA), so GELU is on at evidence tokens only; their
 *   output column writes WO into REL.
 * - layers ≥ 1: attention head 0 passes REL through its value and output projections; query and key weights are
 *   small, so attention is near uniform and [CLS] receives GA × the mean of REL over the tokens. Planted "amplifier"
 *   units read REL (WA) and write it back (WOA): at [CLS] of the last layer they scale the evidence signal up.
 * - pooler and classifier read REL at [CLS]: logit[1] − logit[0] = CC · tanh(KP · (REL − MID)).
 * LayerNorm weights stay ≈ 1 (the reserved dimensions carry most of each token's norm, so LayerNorm rescales
 * REL without hiding it). All other weights are makeTinyBert's random init scaled by 0.2 (std 0.02).
 * Pruning the detectors removes the signal; pruning the amplifiers shrinks it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { encodeSafetensors, makeTinyBert, tinyBertStateDict, type FloatTensor } from './tiny-bert.ts';
import { evidenceWords, toyVocab } from './vocab.ts';

export interface PlantedUnits {
  layer: number;
  units: number[];
}

export interface PlantedBertOptions {
  out: string;
  seed?: number;
  layers?: number;
  hidden?: number;
  heads?: number;
  intermediate?: number;
  planted?: PlantedUnits[];
}

export interface PlantedBert {
  dir: string;
  /** the planted units per layer, as given (or the default) */
  planted: PlantedUnits[];
  /** flat unit indices (layer · d_ff + unit), ascending: the ids rankings and pruning use */
  flatUnits: number[];
  /** words whose tokens the layer-0 detectors fire on */
  evidence: string[];
  /** the reserved hidden dimensions */
  dims: { det: number; rel: number; anchor: number };
}

/** Default planted units: three detectors in layer 0, two amplifiers in layer 1. */
export const DEFAULT_PLANTED: readonly PlantedUnits[] = [{ layer: 0, units: [7, 23, 41] }, { layer: 1, units: [12, 58] }];

/** Reserved residual-stream dimensions (all inside attention head 0). */
const DET = 0, REL = 1, ANCHOR = 2;
/** Scale applied to makeTinyBert's N(0, 0.1) init: the random part ends up with std 0.02. */
const NOISE = 0.2;
/** Word-embedding noise on the free dimensions (relative to the ±1 on DET). */
const EMB_NOISE = 0.1;
// The circuit's gains (see the header).
const WD = 2, THETA = 1.5, WO = 1;
const GA = 2, WA = 1, WOA = 1;
const KP = 0.5, MID = 2.5, CC = 6;

function checkPlanted(planted: readonly PlantedUnits[], layers: number, dff: number): void {
  if (!planted.length || !planted.some((p) => p.layer === 0 && p.units.length)) {
    throw new UserError('make-planted-bert: the circuit needs at least one planted unit in layer 0 (the evidence detectors)');
  }
  const seen = new Set<number>();
  for (const { layer, units } of planted) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= layers) throw new UserError(`make-planted-bert: planted layer ${layer} is outside [0, ${layers})`);
    for (const u of units) {
      if (!Number.isInteger(u) || u < 0 || u >= dff) throw new UserError(`make-planted-bert: planted unit ${u} of layer ${layer} is outside [0, ${dff}); d_ff is ${dff}`);
      if (seen.has(layer * dff + u)) throw new UserError(`make-planted-bert: unit ${u} of layer ${layer} is planted twice`);
      seen.add(layer * dff + u);
    }
  }
}

/** The planted state dict: tinyBertStateDict's tensors, scaled to noise, with the circuit written in. */
export function plantedStateDict(o: Required<Omit<PlantedBertOptions, 'out'>>): Map<string, FloatTensor> {
  const C = o.hidden, F = o.intermediate;
  const sd = tinyBertStateDict({ seed: o.seed, hidden: C, layers: o.layers, heads: o.heads, intermediate: F, labels: 2 });
  for (const [name, t] of sd) {
    const ln = /LayerNorm\.weight$/.test(name);
    for (let i = 0; i < t.data.length; i++) t.data[i] = ln ? 1 + NOISE * (t.data[i] - 1) : NOISE * t.data[i];
  }
  const T = (name: string) => {
    const t = sd.get(name);
    if (!t) throw new Error(`make-planted-bert: tensor ${name} missing from tinyBertStateDict`);
    return t.data;
  };
  const set = (name: string, row: number, col: number, cols: number, v: number) => { T(name)[row * cols + col] = v; };

  // embeddings: DET ±1 by evidence, ANCHOR from the positions, [PAD] row zero (the baseline)
  const vocab = toyVocab();
  const evidence = new Set(evidenceWords());
  const wordEmb = T('bert.embeddings.word_embeddings.weight'); // (V, C)
  for (let id = 0; id < vocab.length; id++) {
    const row = wordEmb.subarray(id * C, (id + 1) * C);
    if (id === 0) { row.fill(0); continue; }
    for (let c = 0; c < C; c++) row[c] *= EMB_NOISE / (0.1 * NOISE); // back to std EMB_NOISE
    row[DET] = evidence.has(vocab[id]) ? 1 : -1;
    row[REL] = 0;
    row[ANCHOR] = 0;
  }
  const posEmb = T('bert.embeddings.position_embeddings.weight'); // (P, C)
  for (let p = 0; p < posEmb.length / C; p++) { posEmb[p * C + ANCHOR] = 1; posEmb[p * C + REL] = 0; }
  const typeEmb = T('bert.embeddings.token_type_embeddings.weight'); // (2, C)
  for (let t = 0; t < 2; t++) typeEmb[t * C + REL] = 0;

  const plantedIn = (l: number) => o.planted.filter((p) => p.layer === l).flatMap((p) => p.units);
  for (let l = 0; l < o.layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    if (l >= 1) { // head 0 carries REL to [CLS]: value REL -> REL, output REL -> REL (times GA)
      const vW = T(`${p}attention.self.value.weight`), aoW = T(`${p}attention.output.dense.weight`);
      for (let c = 0; c < C; c++) { vW[REL * C + c] = 0; aoW[REL * C + c] = 0; }
      set(`${p}attention.self.value.weight`, REL, REL, C, 1);
      set(`${p}attention.output.dense.weight`, REL, REL, C, GA);
      T(`${p}attention.self.value.bias`)[REL] = 0;
      T(`${p}attention.output.dense.bias`)[REL] = 0;
    }
    const iW = T(`${p}intermediate.dense.weight`), iB = T(`${p}intermediate.dense.bias`); // (F, C), (F)
    const oW = T(`${p}output.dense.weight`); // (C, F)
    oW.fill(0, REL * F, (REL + 1) * F); // only planted units write REL
    for (const u of plantedIn(l)) {
      for (let c = 0; c < C; c++) { iW[u * C + c] = 0; oW[c * F + u] = 0; }
      if (l === 0) { iW[u * C + DET] = WD; iB[u] = -WD * THETA; oW[REL * F + u] = WO; } // detector
      else { iW[u * C + REL] = WA; iB[u] = 0; oW[REL * F + u] = WOA; }                   // amplifier
    }
    T(`${p}output.dense.bias`)[REL] = 0;
  }
  const poolW = T('bert.pooler.dense.weight'); // (C, C)
  for (let c = 0; c < C; c++) poolW[REL * C + c] = 0;
  poolW[REL * C + REL] = KP;
  T('bert.pooler.dense.bias')[REL] = -KP * MID;
  const clsW = T('classifier.weight'); // (2, C)
  clsW[0 * C + REL] = -CC / 2;
  clsW[1 * C + REL] = CC / 2;
  return sd;
}

/** Writes the checkpoint folder `opts.out` (config.json, model.safetensors F32, vocab.txt, tokenizer_config.json). */
export function makePlantedBert(opts: PlantedBertOptions): PlantedBert {
  if (!opts.out) throw new UserError('make-planted-bert: --out DIR is required');
  const o = {
    seed: opts.seed ?? 1, layers: opts.layers ?? 2, hidden: opts.hidden ?? 32, heads: opts.heads ?? 2,
    intermediate: opts.intermediate ?? 64, planted: (opts.planted ?? DEFAULT_PLANTED).map((p) => ({ layer: p.layer, units: [...p.units] })),
  };
  if (!Number.isInteger(o.hidden) || o.hidden < 8) throw new UserError(`make-planted-bert: hidden must be an integer >= 8, found ${o.hidden}`);
  if (!Number.isInteger(o.heads) || o.heads < 1 || o.hidden % o.heads !== 0 || o.hidden / o.heads <= ANCHOR) {
    throw new UserError(`make-planted-bert: heads ${o.heads} must divide hidden ${o.hidden} with a head size above ${ANCHOR}`);
  }
  checkPlanted(o.planted, o.layers, o.intermediate);
  // config.json, vocab.txt, tokenizer_config.json (and a random model.safetensors, replaced below)
  makeTinyBert({ out: opts.out, seed: o.seed, hidden: o.hidden, layers: o.layers, heads: o.heads, intermediate: o.intermediate, labels: 2, dtype: 'F32' });
  const cfgFile = join(opts.out, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  cfg.initializer_range = 0.02;
  cfg.planted_units = o.planted; // informational; transformers ignores unknown config keys
  writeFileSync(cfgFile, JSON.stringify(cfg, null, 2) + '\n');
  writeFileSync(join(opts.out, 'model.safetensors'), encodeSafetensors(plantedStateDict(o), 'F32', { format: 'pt' }));
  const flatUnits = o.planted.flatMap((p) => p.units.map((u) => p.layer * o.intermediate + u)).sort((a, b) => a - b);
  return { dir: opts.out, planted: o.planted, flatUnits, evidence: evidenceWords(), dims: { det: DET, rel: REL, anchor: ANCHOR } };
}

/** `--planted 0:7,23,41/1:12,58` */
function parsePlanted(s: string): PlantedUnits[] {
  return s.split('/').map((part) => {
    const m = /^(\d+):(\d+(?:,\d+)*)$/.exec(part.trim());
    if (!m) throw new UserError(`make-planted-bert: --planted expects LAYER:U,U,.../LAYER:U,..., e.g. 0:7,23,41/1:12,58; found '${part}'`);
    return { layer: Number(m[1]), units: m[2].split(',').map(Number) };
  });
}

/** The options of tools/make-planted-bert.ts from its command line. */
export function parseArgs(argv: string[]): PlantedBertOptions {
  const o: PlantedBertOptions = { out: '' };
  const ints: Record<string, 'seed' | 'layers' | 'hidden' | 'heads' | 'intermediate'> = {
    '--seed': 'seed', '--layers': 'layers', '--hidden': 'hidden', '--heads': 'heads', '--intermediate': 'intermediate',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i], val = argv[i + 1];
    if (val === undefined) throw new UserError(`make-planted-bert: ${flag} needs a value`);
    if (flag === '--out') o.out = val;
    else if (flag === '--planted') o.planted = parsePlanted(val);
    else if (flag in ints) {
      if (!/^-?\d+$/.test(val)) throw new UserError(`make-planted-bert: ${flag} expects an integer, found '${val}'`);
      o[ints[flag]] = Number(val);
    } else {
      throw new UserError(`make-planted-bert: unknown option '${flag}'; options: --out --seed --layers --hidden --heads --intermediate --planted`);
    }
  }
  return o;
}
