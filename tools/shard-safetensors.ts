/**
 * tools/shard-safetensors.ts: splits a checkpoint's model.safetensors into shards the way transformers'
 * save_pretrained(max_shard_size=…) does — `model-00001-of-0000N.safetensors` … plus `model.safetensors.index.json`
 * (`metadata.total_size`, `weight_map` from tensor name to shard) — copying every tensor's bytes as they are.
 *   node --import tsx tools/shard-safetensors.ts --in DIR --out DIR [--shards 2]
 * The output folder also gets the input's config.json and tokenizer files (nothing else: no pytorch_model.bin).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, type RawTensor } from '../src/formats/safetensors.ts';
import { UserError } from '../src/util/errors.ts';

const KEEP = ['config.json', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/** One safetensors file holding `tensors` byte for byte (header padded with spaces to 8 bytes). */
function writeRaw(tensors: [string, RawTensor][]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
    off += t.bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const hlen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + hlen + off).fill(0x20, 8, 8 + hlen);
  new DataView(out.buffer).setBigUint64(0, BigInt(hlen), true);
  out.set(json, 8);
  let p = 8 + hlen;
  for (const [, t] of tensors) { out.set(t.bytes, p); p += t.bytes.byteLength; }
  return out;
}

/** Splits `inDir/model.safetensors` into `shards` files of about equal size in `outDir`; returns their names. */
export function shardCheckpoint(inDir: string, outDir: string, shards = 2): string[] {
  if (!Number.isInteger(shards) || shards < 2) throw new UserError(`--shards must be an integer >= 2, got ${shards}`);
  const file = join(inDir, 'model.safetensors');
  const all = [...parseSafetensors(readFileSync(file), file)];
  if (all.length < shards) throw new UserError(`${file}: ${all.length} tensors cannot fill ${shards} shards`);
  const total = all.reduce((s, [, t]) => s + t.bytes.byteLength, 0);
  const groups: [string, RawTensor][][] = [[]];
  let acc = 0;
  for (const [i, e] of all.entries()) {
    const left = all.length - i;  // each remaining shard needs at least one tensor
    if (groups.length < shards && groups.at(-1)!.length > 0 && (acc >= (total * groups.length) / shards || left <= shards - groups.length)) groups.push([]);
    groups.at(-1)!.push(e);
    acc += e[1].bytes.byteLength;
  }
  mkdirSync(outDir, { recursive: true });
  for (const f of KEEP) if (existsSync(join(inDir, f))) writeFileSync(join(outDir, f), readFileSync(join(inDir, f)));
  const n = String(groups.length).padStart(5, '0');
  const names = groups.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`);
  const weightMap: Record<string, string> = {};
  groups.forEach((g, i) => {
    writeFileSync(join(outDir, names[i]), writeRaw(g));
    for (const [name] of g) weightMap[name] = names[i];
  });
  writeFileSync(join(outDir, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`);
  return names;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const get = (k: string) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : undefined; };
  try {
    const inDir = get('in'), outDir = get('out');
    if (!inDir || !outDir) throw new UserError('usage: tools/shard-safetensors.ts --in DIR --out DIR [--shards N]');
    const names = shardCheckpoint(inDir, outDir, Number(get('shards') ?? 2));
    console.log(`wrote ${names.length} shards and model.safetensors.index.json to ${outDir}`);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}
