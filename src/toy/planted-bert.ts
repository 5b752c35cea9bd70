/**
 * Writes a BertForSequenceClassification checkpoint (2 labels) with a hand-set relevance circuit on top of small
 * random weights: a known-answer model for NIG, in the spirit of Captum's hand-built toy models. The relevance
 * F = softmax(logits)[1] depends mostly on a few planted FFN units; everything else is N(0, 0.02)-sized noise.
 *
 *   node --import tsx tools/make-planted-bert.ts --out DIR [--seed 1] [--hidden 32] [--layers 2] [--heads 2]
 *        [--intermediate 64] [--planted 0:7,23,41/1:12,58] [--ood 0:30,50] [--nonrel 0:15,35] [--dead 0:3/1:20,40]
 *
 * Every FFN unit has a known role (`roles` in the result), so every analysis of the report has a known answer:
 * - relevance (`--planted`, shared across domains): layer-0 detectors of the topics' evidence words and layer-1
 *   amplifiers; they carry relevance in every toy collection.
 * - ood (`--ood`, layer 0): detectors of the out-of-domain evidence words (src/toy/vocab.ts OOD_WORDS), which only
 *   the out-of-domain collections' relevant passages hold: they matter out of domain only.
 * - nonrel (`--nonrel`, layer 0): detectors of the non-relevance cues (NONREL_WORDS) that write −REL: they push
 *   the pairs that hold the cues (non-relevant ones only) towards "not relevant".
 * - dead (`--dead`): input row, bias and output column all zero, so the unit is 0 on every input: NIG exactly 0,
 *   pruning it changes nothing.
 * Every other unit is small random noise.
 *
 * The circuit, over five reserved hidden dimensions (DET, REL, ANCHOR, OOD, NEG):
 * - embeddings: evidence words (src/toy/vocab.ts `evidenceWords`) have +1 on DET, every other token −1, [PAD] 0
 *   (the NIG baseline); every position has +1 on ANCHOR, so the embedding LayerNorm has a stable scale and maps
 *   evidence / [PAD] / other tokens to DET ≈ +3.6 / ≈ 0 / ≈ −3.7. OOD words have +1 on OOD and cue words +1 on
 *   NEG (every other token 0), which the LayerNorm maps to ≈ +3.
 * - layer 0, planted "detector" units: pre = WD · (h[DIM] − THETA), so GELU is on at the detected tokens only;
 *   relevance and OOD detectors write into REL, non-relevance detectors −WN. MID puts the all-[PAD] baseline at
 *   F ≈ 0.2, so that cues can push a pair below it (towards "not relevant") as evidence pushes it above.
 * - layers ≥ 1: attention head 0 passes REL through its value and output projections; query and key weights are
 *   small, so attention is near uniform and [CLS] receives GA × the mean of REL over the tokens. Planted "amplifier"
 *   units read REL (WA) and write it back (WOA): at [CLS] of the last layer they scale the evidence signal up.
 * - pooler and classifier read REL at [CLS]: logit[1] − logit[0] = CC · tanh(KP · (REL − MID)).
 * LayerNorm weights stay ≈ 1 (the reserved dimensions carry most of each token's norm, so LayerNorm rescales
 * REL without hiding it). All other weights are makeTinyBert's random init scaled by 0.2 (std 0.02).
 * Pruning the detectors removes the signal; pruning the amplifiers shrinks it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { encodeSafetensors, makeTinyBert, tinyBertStateDict, type FloatTensor } from './tiny-bert.ts';
import { NONREL_WORDS, OOD_WORDS, evidenceWords, toyVocab } from './vocab.ts';

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
  /** layer-0 detectors of the out-of-domain evidence words */
  ood?: PlantedUnits[];
  /** layer-0 detectors of the non-relevance cues */
  nonrel?: PlantedUnits[];
  /** units that are zero on every input */
  dead?: PlantedUnits[];
}

/** The known role of every planted unit, as flat unit indices (layer · d_ff + unit), ascending. */
export interface PlantedRoles {
  relevance: number[];
  ood: number[];
  nonrel: number[];
  dead: number[];
}

export interface PlantedBert {
  dir: string;
  /** the planted units per layer, as given (or the default) */
  planted: PlantedUnits[];
  /** flat unit indices (layer · d_ff + unit), ascending: the ids rankings and pruning use */
  flatUnits: number[];
  /** every role's units (relevance = flatUnits) */
  roles: PlantedRoles;
  /** words whose tokens the layer-0 detectors fire on */
  evidence: string[];
  /** the reserved hidden dimensions */
  dims: { det: number; rel: number; anchor: number; ood: number; neg: number };
}

/** Default planted units: three detectors in layer 0, two amplifiers in layer 1. */
export const DEFAULT_PLANTED: readonly PlantedUnits[] = [{ layer: 0, units: [7, 23, 41] }, { layer: 1, units: [12, 58] }];
/** Default OOD detectors, non-relevance detectors and dead units. */
export const DEFAULT_OOD: readonly PlantedUnits[] = [{ layer: 0, units: [30, 50] }];
export const DEFAULT_NONREL: readonly PlantedUnits[] = [{ layer: 0, units: [15, 35] }];
export const DEFAULT_DEAD: readonly PlantedUnits[] = [{ layer: 0, units: [3] }, { layer: 1, units: [20, 40] }];

/** Reserved residual-stream dimensions (all inside attention head 0). */
const DET = 0, REL = 1, ANCHOR = 2, OOD = 3, NEG = 4;
/** Scale applied to makeTinyBert's N(0, 0.1) init: the random part ends up with std 0.02. */
const NOISE = 0.2;
/** Word-embedding noise on the free dimensions (relative to the ±1 on DET). */
const EMB_NOISE = 0.1;
// The circuit's gains (see the header).
const WD = 2, THETA = 1.5, WO = 1;
// OOD and cue detectors: a steeper gain keeps them off (GELU' ≈ 0) on every other token; their outputs are scaled to match.
const WD2 = 4, WOO = 0.7, WN = 2;
const GA = 2, WA = 1, WOA = 1;
const KP = 0.5, MID = 0.5, CC = 6;

type RoleUnits = { planted: PlantedUnits[]; ood: PlantedUnits[]; nonrel: PlantedUnits[]; dead: PlantedUnits[] };

function checkPlanted(r: RoleUnits, layers: number, dff: number): void {
  if (!r.planted.length || !r.planted.some((p) => p.layer === 0 && p.units.length)) {
    throw new UserError('make-planted-bert: the circuit needs at least one planted unit in layer 0 (the evidence detectors)');
  }
  for (const [role, list] of [['ood', r.ood], ['nonrel', r.nonrel]] as const) {
    const off = list.find((p) => p.layer !== 0 && p.units.length);
    if (off) throw new UserError(`make-planted-bert: --${role} units are detectors of word embeddings and must be in layer 0, found layer ${off.layer}`);
  }
  const seen = new Set<number>();
  for (const { layer, units } of [...r.planted, ...r.ood, ...r.nonrel, ...r.dead]) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= layers) throw new UserError(`make-planted-bert: planted layer ${layer} is outside [0, ${layers})`);
    for (const u of units) {
      if (!Number.isInteger(u) || u < 0 || u >= dff) throw new UserError(`make-planted-bert: planted unit ${u} of layer ${layer} is outside [0, ${dff}); d_ff is ${dff}`);
      if (seen.has(layer * dff + u)) throw new UserError(`make-planted-bert: unit ${u} of layer ${layer} is given twice (each unit has one role); choose distinct units`);
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
  const oodWords = new Set(OOD_WORDS), cueWords = new Set(NONREL_WORDS);
  const wordEmb = T('bert.embeddings.word_embeddings.weight'); // (V, C)
  for (let id = 0; id < vocab.length; id++) {
    const row = wordEmb.subarray(id * C, (id + 1) * C);
    if (id === 0) { row.fill(0); continue; }
    for (let c = 0; c < C; c++) row[c] *= EMB_NOISE / (0.1 * NOISE); // back to std EMB_NOISE
    row[DET] = evidence.has(vocab[id]) ? 1 : -1;
    row[REL] = 0;
    row[ANCHOR] = 0;
    row[OOD] = oodWords.has(vocab[id]) ? 1 : 0;
    row[NEG] = cueWords.has(vocab[id]) ? 1 : 0;
  }
  const posEmb = T('bert.embeddings.position_embeddings.weight'); // (P, C)
  for (let p = 0; p < posEmb.length / C; p++) { posEmb[p * C + ANCHOR] = 1; posEmb[p * C + REL] = 0; posEmb[p * C + OOD] = 0; posEmb[p * C + NEG] = 0; }
  const typeEmb = T('bert.embeddings.token_type_embeddings.weight'); // (2, C)
  for (let t = 0; t < 2; t++) { typeEmb[t * C + REL] = 0; typeEmb[t * C + OOD] = 0; typeEmb[t * C + NEG] = 0; }

  const unitsIn = (list: readonly PlantedUnits[], l: number) => list.filter((p) => p.layer === l).flatMap((p) => p.units);
  const plantedIn = (l: number) => unitsIn(o.planted, l);
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
    for (const [list, dim, wout] of [[o.ood, OOD, WOO], [o.nonrel, NEG, -WN]] as const) {
      for (const u of unitsIn(list, l)) { // layer 0 only (checked): OOD-evidence and cue detectors
        for (let c = 0; c < C; c++) { iW[u * C + c] = 0; oW[c * F + u] = 0; }
        iW[u * C + dim] = WD2; iB[u] = -WD2 * THETA; oW[REL * F + u] = wout;
      }
    }
    for (const u of unitsIn(o.dead, l)) { // zero on every input
      for (let c = 0; c < C; c++) { iW[u * C + c] = 0; oW[c * F + u] = 0; }
      iB[u] = 0;
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
    intermediate: opts.intermediate ?? 64, planted: copy(opts.planted ?? DEFAULT_PLANTED),
    ood: copy(opts.ood ?? DEFAULT_OOD), nonrel: copy(opts.nonrel ?? DEFAULT_NONREL), dead: copy(opts.dead ?? DEFAULT_DEAD),
  };
  if (!Number.isInteger(o.hidden) || o.hidden < 8) throw new UserError(`make-planted-bert: hidden must be an integer >= 8, found ${o.hidden}`);
  if (!Number.isInteger(o.heads) || o.heads < 1 || o.hidden % o.heads !== 0 || o.hidden / o.heads <= NEG) {
    throw new UserError(`make-planted-bert: heads ${o.heads} must divide hidden ${o.hidden} with a head size above ${NEG} (the reserved dimensions)`);
  }
  checkPlanted(o, o.layers, o.intermediate);
  // config.json, vocab.txt, tokenizer_config.json (and a random model.safetensors, replaced below)
  makeTinyBert({ out: opts.out, seed: o.seed, hidden: o.hidden, layers: o.layers, heads: o.heads, intermediate: o.intermediate, labels: 2, dtype: 'F32' });
  const cfgFile = join(opts.out, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  cfg.initializer_range = 0.02;
  cfg.planted_units = o.planted; // informational; transformers ignores unknown config keys
  cfg.planted_roles = { ood: o.ood, nonrel: o.nonrel, dead: o.dead };
  writeFileAtomic(cfgFile, JSON.stringify(cfg, null, 2) + '\n');
  writeFileAtomic(join(opts.out, 'model.safetensors'), encodeSafetensors(plantedStateDict(o), 'F32', { format: 'pt' }));
  const flat = (list: PlantedUnits[]) => list.flatMap((p) => p.units.map((u) => p.layer * o.intermediate + u)).sort((a, b) => a - b);
  const flatUnits = flat(o.planted);
  const roles: PlantedRoles = { relevance: flatUnits, ood: flat(o.ood), nonrel: flat(o.nonrel), dead: flat(o.dead) };
  return { dir: opts.out, planted: o.planted, flatUnits, roles, evidence: evidenceWords(), dims: { det: DET, rel: REL, anchor: ANCHOR, ood: OOD, neg: NEG } };
}

const copy = (list: readonly PlantedUnits[]): PlantedUnits[] => list.map((p) => ({ layer: p.layer, units: [...p.units] }));

/** `--planted 0:7,23,41/1:12,58` */
function parsePlanted(s: string, flag = '--planted'): PlantedUnits[] {
  if (s.trim() === '') return [];
  return s.split('/').map((part) => {
    const m = /^(\d+):(\d+(?:,\d+)*)$/.exec(part.trim());
    if (!m) throw new UserError(`make-planted-bert: ${flag} expects LAYER:U,U,.../LAYER:U,..., e.g. 0:7,23,41/1:12,58; found '${part}'`);
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
    else if (flag === '--ood' || flag === '--nonrel' || flag === '--dead') o[flag.slice(2) as 'ood' | 'nonrel' | 'dead'] = parsePlanted(val, flag);
    else if (flag in ints) {
      if (!/^-?\d+$/.test(val)) throw new UserError(`make-planted-bert: ${flag} expects an integer, found '${val}'`);
      o[ints[flag]] = Number(val);
    } else {
      throw new UserError(`make-planted-bert: unknown option '${flag}'; options: --out --seed --layers --hidden --heads --intermediate --planted --ood --nonrel --dead`);
    }
  }
  return o;
}
