/**
 * A checkpoint in the browser, from bytes: `config.json` + `model.safetensors` + `tokenizer.json` (or `vocab.txt`
 * with an optional `tokenizer_config.json`; the tokenizer under any name, read by its content), each given as a File/Blob (picker, drag and drop), an ArrayBuffer, or a
 * URL. The same parsers as Node (parseConfig, parseSafetensors, weightsFromStateDict, the JS tokenizers of src/tokenizer/json.ts) run on the
 * bytes; nothing here touches a file system. pytorch_model.bin is not read in the browser (its reader uses node:zlib).
 */
import { UserError } from '../util/errors.ts';
import { parseConfig } from '../model/config.ts';
import { parseSafetensors } from '../formats/safetensors.ts';
import { weightsFromStateDict } from '../model/weights.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { jsTokenizerFromJson, type SyncPairTokenizer } from '../tokenizer/json.ts';
import type { BertConfig, BertWeights } from '../model/types.ts';
import type { SpecialIds } from '../ig/baselines.ts';

/** Where a file's bytes come from; a string is a URL (relative to the page). */
export type Source = Blob | ArrayBuffer | Uint8Array | URL | string;

export interface ModelSources {
  config: Source;
  weights: Source;
  tokenizer: Source;
  /** Beside a vocab.txt: lower-casing, accents and special tokens. */
  tokenizerConfig?: Source;
  /** File names for messages and for telling tokenizer.json from vocab.txt when a source has no name of its own. */
  names?: { config?: string; weights?: string; tokenizer?: string; tokenizerConfig?: string };
}

export interface LoadedModel {
  config: BertConfig;
  weights: BertWeights;
  /** The WordPiece port for BERT's pipeline and vocab.txt, `@huggingface/tokenizers` for any other tokenizer.json. */
  tokenizer: SyncPairTokenizer;
  special: SpecialIds;
  /** The names of the three files, as shown to the user. */
  files: { config: string; weights: string; tokenizer: string };
  weightBytes: number;
}

/** Reports bytes read so far of one file (total when the server says it). */
export type LoadProgress = (file: string, loaded: number, total: number | undefined) => void;

function nameOf(s: Source, fallback: string): string {
  if (typeof File !== 'undefined' && s instanceof File) return s.name;
  if (typeof s === 'string' || s instanceof URL) {
    const path = new URL(String(s), globalThis.location?.href ?? 'http://localhost/').pathname;
    return decodeURIComponent(path.split('/').pop() || fallback);
  }
  return fallback;
}

async function fetchBytes(url: string, name: string, onProgress?: LoadProgress): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new UserError(`${url}: could not be fetched (${(e as Error).message}); check the URL, and that the server allows this page's origin (CORS)`);
  }
  if (!res.ok) throw new UserError(`${url}: the server answered ${res.status} ${res.statusText}; check that the folder URL holds ${name}`);
  const total = Number(res.headers.get('content-length')) || undefined;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    onProgress?.(name, loaded, total);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return out;
}

/** The bytes of a source. */
export async function readSource(s: Source, name: string, onProgress?: LoadProgress): Promise<Uint8Array> {
  if (s instanceof Uint8Array) return s;
  if (s instanceof ArrayBuffer) return new Uint8Array(s);
  if (typeof s === 'string' || s instanceof URL) return fetchBytes(new URL(String(s), globalThis.location?.href).href, name, onProgress);
  const bytes = new Uint8Array(await s.arrayBuffer());
  onProgress?.(name, bytes.byteLength, bytes.byteLength);
  return bytes;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function parseJson(b: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(text(b));
  } catch (e) {
    throw new UserError(`${name}: not valid JSON (${(e as Error).message})`);
  }
}

/** Whether bytes hold a JSON object (a tokenizer.json) rather than a vocab.txt: the first character that is not a BOM or blank is '{'. */
export function looksLikeJson(bytes: Uint8Array): boolean {
  for (let i = 0; i < Math.min(bytes.length, 4096); i++) {
    const b = bytes[i];
    if (b === 0x7b) return true; // '{'
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0xef || b === 0xbb || b === 0xbf) continue; // blank or UTF-8 BOM
    return false;
  }
  return false;
}

/**
 * Builds the tokenizer from a tokenizer.json or a vocab.txt (+ tokenizer_config.json), told apart by content, not by
 * name: a JSON object is a tokenizer.json, anything else a vocab (one token per line), whatever the file is called.
 */
export function tokenizerFromBytes(bytes: Uint8Array, name: string, configBytes?: Uint8Array, configName = 'tokenizer_config.json'): SyncPairTokenizer {
  if (looksLikeJson(bytes)) return jsTokenizerFromJson(parseJson(bytes, name), name);
  return WordPieceTokenizer.fromVocabTxt(text(bytes), configBytes ? parseJson(configBytes, configName) : undefined, name, configName);
}

/** Reads and checks the three files; throws a UserError naming the file at fault. */
export async function loadModel(src: ModelSources, onProgress?: LoadProgress): Promise<LoadedModel> {
  const n = {
    config: src.names?.config ?? nameOf(src.config, 'config.json'),
    weights: src.names?.weights ?? nameOf(src.weights, 'model.safetensors'),
    tokenizer: src.names?.tokenizer ?? nameOf(src.tokenizer, 'tokenizer.json'),
    tokenizerConfig: src.names?.tokenizerConfig ?? (src.tokenizerConfig ? nameOf(src.tokenizerConfig, 'tokenizer_config.json') : 'tokenizer_config.json'),
  };
  if (n.weights.endsWith('.bin')) {
    throw new UserError(`${n.weights}: PyTorch .bin checkpoints are not read in the browser; convert it to model.safetensors (safetensors' save_file, or save_pretrained(safe_serialization=True))`);
  }
  const [cfgBytes, tokBytes, tokCfgBytes] = await Promise.all([
    readSource(src.config, n.config), readSource(src.tokenizer, n.tokenizer, onProgress),
    src.tokenizerConfig ? readSource(src.tokenizerConfig, n.tokenizerConfig) : Promise.resolve(undefined),
  ]);
  const config = parseConfig(text(cfgBytes), n.config);
  const tokenizer = tokenizerFromBytes(tokBytes, n.tokenizer, tokCfgBytes, n.tokenizerConfig);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new UserError(`${n.tokenizer}: the tokenizer has ${tokenizer.vocabSize} ids but ${n.config} says vocab_size ${config.vocabSize}; the tokenizer does not belong to this model`);
  }
  const wBytes = await readSource(src.weights, n.weights, onProgress);
  const weights = weightsFromStateDict(parseSafetensors(wBytes, n.weights), config, n.weights);
  const t = tokenizer;
  return {
    config, weights, tokenizer,
    special: { clsId: t.clsId, sepId: t.sepId, padId: t.padId, maskId: t.maskId, unkId: t.unkId },
    files: { config: n.config, weights: n.weights, tokenizer: n.tokenizer },
    weightBytes: wBytes.byteLength,
  };
}

/**
 * The sources of a model folder served over HTTP: tokenizer.json, else vocab.txt (+ tokenizer_config.json); or the
 * tokenizer at `tokenizer` (a URL relative to the folder, any file name: its content says which kind it is).
 */
export async function sourcesFromFolderUrl(folder: string, tokenizer?: string): Promise<ModelSources> {
  const base = new URL(folder.endsWith('/') ? folder : `${folder}/`, globalThis.location?.href);
  const at = (f: string) => new URL(f, base).href;
  const exists = async (f: string) => {
    try {
      const r = await fetch(at(f), { method: 'HEAD' });
      return r.ok;
    } catch {
      return false;
    }
  };
  // Probed in order, so a complete folder costs no 404s: tokenizer.json before vocab.txt, safetensors before .bin.
  const [json, st] = await Promise.all([exists('tokenizer.json'), exists('model.safetensors')]);
  if (!st) {
    const bin = await exists('pytorch_model.bin');
    throw new UserError(`${at('model.safetensors')}: not found${bin ? ' (the folder has pytorch_model.bin, which the browser does not read: convert it to model.safetensors)' : ''}; the folder URL must hold config.json, model.safetensors and tokenizer.json`);
  }
  if (tokenizer) {
    return { config: at('config.json'), weights: at('model.safetensors'), tokenizer: at(tokenizer), tokenizerConfig: (await exists('tokenizer_config.json')) ? at('tokenizer_config.json') : undefined };
  }
  if (json) return { config: at('config.json'), weights: at('model.safetensors'), tokenizer: at('tokenizer.json') };
  if (!(await exists('vocab.txt'))) throw new UserError(`${base.href}: neither tokenizer.json nor vocab.txt found; put the checkpoint's tokenizer files beside config.json`);
  return {
    config: at('config.json'),
    weights: at('model.safetensors'),
    tokenizer: at('vocab.txt'),
    tokenizerConfig: (await exists('tokenizer_config.json')) ? at('tokenizer_config.json') : undefined,
  };
}

/** Files of a checkpoint folder that are not its tokenizer (weights, configs, docs, other frameworks' files). */
const NOT_TOKENIZER = /^(config\.json|tokenizer_config\.json|special_tokens_map\.json|generation_config\.json|added_tokens\.json|.*\.(safetensors|bin|pt|pth|ckpt|h5|msgpack|onnx|ot|md|index\.json|gitattributes|gitignore|py|png|jpg)|\..*|readme.*|license.*)$/;

/**
 * Picks the model files out of a set of Files (a picker selection or a dropped folder). The tokenizer is
 * tokenizer.json or vocab.txt when one is there, else the one file that is none of the checkpoint's other files,
 * whatever its name (`--tokenizer` takes any name too); tokenizerFromBytes then reads it by its content.
 */
export function sourcesFromFiles(files: File[]): ModelSources {
  const by = (pred: (n: string) => boolean) => files.find((f) => pred(f.name.toLowerCase()));
  const config = by((n) => n === 'config.json');
  const weights = by((n) => n === 'model.safetensors') ?? by((n) => n.endsWith('.safetensors'));
  const others = files.filter((f) => !NOT_TOKENIZER.test(f.name.toLowerCase()));
  if (others.length > 1 && !by((n) => n === 'tokenizer.json' || n === 'vocab.txt')) {
    throw new UserError(`${others.length} files could be the tokenizer (${others.map((f) => f.name).join(', ')}); give only one of them with config.json and the weights`);
  }
  const tokenizer = by((n) => n === 'tokenizer.json') ?? by((n) => n === 'vocab.txt') ?? others[0];
  const tokenizerConfig = by((n) => n === 'tokenizer_config.json');
  const missing = [!config && 'config.json', !weights && 'model.safetensors', !tokenizer && 'a tokenizer (tokenizer.json or vocab.txt, under any name)'].filter(Boolean);
  if (missing.length) {
    const bin = by((n) => n.endsWith('.bin')) && !weights ? '; .bin weights must be converted to model.safetensors for the browser' : '';
    throw new UserError(`missing ${missing.join(', ')} among the ${files.length} files given (${files.map((f) => f.name).join(', ') || 'none'})${bin}; select or drop the checkpoint folder's files`);
  }
  return { config: config!, weights: weights!, tokenizer: tokenizer!, tokenizerConfig };
}

/** The Files of a drop: plain files, and the files inside dropped folders (one level of nesting is enough for a checkpoint). */
export async function filesFromDrop(dt: DataTransfer): Promise<File[]> {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (!entries.length) return [...dt.files];
  const out: File[] = [];
  const walk = async (e: FileSystemEntry, depth: number): Promise<void> => {
    if (e.isFile) out.push(await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej)));
    else if (e.isDirectory && depth < 2) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const c of batch) await walk(c, depth + 1);
      }
    }
  };
  for (const e of entries) await walk(e, 0);
  return out;
}
