/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the raw little-endian data.
 * Reading converts F32, F16, BF16 (and F64, I32, I64 for references) to Float32Array or Float64Array.
 * No Node imports: the browser build parses the same bytes.
 */
import { UserError } from '../util/errors.ts';

export interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array; // view into the file's buffer
}

const DTYPE_SIZE: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
  U64: 8, U32: 4, U16: 2, F8_E4M3: 1, F8_E5M2: 1,
};

/** The reference library's limit on the JSON header (safetensors' MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

/** A name from the file, as it may appear in a one-line message: JSON-quoted, at most 100 characters. */
const show = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 97)}...` : s);

/**
 * Parses the header and returns views on each tensor's bytes; `file` names the source in errors. As strict as
 * the reference library (safetensors' `SafeTensors::deserialize` and `Metadata::validate`): header length
 * ≤ 100 MB, UTF-8 JSON starting with '{', keys unique, `__metadata__` a string-to-string map, integer shapes and
 * offsets (strings are refused, not coerced), each tensor's byte span equal to its shape × dtype size, and the
 * tensors, sorted by offset, tiling the data section from its first byte to its last with no overlap and no gap.
 */
export function parseSafetensors(buf: Uint8Array, file: string): Map<string, RawTensor> {
  return readSafetensors(buf, file).tensors;
}

/** `parseSafetensors` with the file's `__metadata__` (validated as a string-to-string map; `{}` when absent). */
export function readSafetensors(buf: Uint8Array, file: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const fail = (what: string): never => {
    throw new UserError(`${file}: not a valid safetensors file: ${what}; re-save it with safetensors' save_file (or transformers' save_pretrained)`);
  };
  if (buf.byteLength < 8) fail(`only ${buf.byteLength} bytes, fewer than the 8-byte header length`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n < 2 || 8 + n > buf.byteLength) fail(`header length ${n} does not fit in the file's ${buf.byteLength} bytes (truncated?)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n));
  } catch {
    return fail('header is not UTF-8');
  }
  if (text[0] !== '{') fail(`header does not start with '{'`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message.replace(/\s+/g, ' ')})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dup = duplicateKey(text);
  if (dup !== undefined) fail(`header names ${show(dup)} twice`);
  const dataStart = 8 + n, dataLen = buf.byteLength - dataStart;
  const spans: { name: string; begin: number; end: number }[] = [];
  const out = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) fail('__metadata__ is not a map of strings to strings');
      metadata = v as Record<string, string>;
      continue;
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== 'object' || t === null || Array.isArray(t)) fail(`tensor ${show(name)} is not an object`);
    const size = typeof t.dtype === 'string' && Object.hasOwn(DTYPE_SIZE, t.dtype) ? DTYPE_SIZE[t.dtype] : fail(`tensor ${show(name)} has unknown dtype ${show(String(JSON.stringify(t.dtype)))}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${show(name)} has a bad shape ${show(String(JSON.stringify(t.shape)))}`);
    const offs = t.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[1] < offs[0]) {
      fail(`tensor ${show(name)} has bad data_offsets ${show(String(JSON.stringify(offs)))} (two integers, begin ≤ end)`);
    }
    const [begin, end] = offs as [number, number];
    const shape = t.shape as number[];
    let count = 1;
    for (const d of shape) count *= d;
    if (!Number.isSafeInteger(count * size)) fail(`tensor ${show(name)} has a shape [${shape}] too large to address`);
    if (end - begin !== count * size) fail(`tensor ${show(name)} spans ${end - begin} bytes but its shape [${shape}] of ${t.dtype} needs ${count * size}`);
    if (dataStart + end > buf.byteLength) fail(`tensor ${show(name)} ends at byte ${dataStart + end}, past the end of the ${buf.byteLength}-byte file (truncated?)`);
    spans.push({ name, begin, end });
    out.set(name, { dtype: t.dtype as string, shape, bytes: buf.subarray(dataStart + begin, dataStart + end) });
  }
  // The reference's validate(): sorted by offsets, each tensor starts where the previous ended, the last ends the file.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const s of spans) {
    if (s.begin !== at) fail(`tensor ${show(s.name)} starts at data byte ${s.begin}, but the previous tensor ends at ${at} (${s.begin < at ? 'overlap' : 'gap'}); tensors must tile the data section`);
    at = s.end;
  }
  if (at !== dataLen) fail(`the tensors end at data byte ${at}, but the data section holds ${dataLen} bytes (${at < dataLen ? 'trailing bytes' : 'truncated?'})`);
  return { tensors: out, metadata };
}

/** The index file of a sharded safetensors checkpoint (Hugging Face's name). */
export const SHARD_INDEX = 'model.safetensors.index.json';

/**
 * A sharded checkpoint's index: `weight_map` (tensor name -> shard file beside the index) and the shard files it
 * names (sorted, unique). Refused unless it is JSON with a `weight_map` object whose values are plain
 * `*.safetensors` file names (no folders, no '..'). `fix` says what to do when it is refused.
 */
export function parseShardIndex(text: string, file: string, fix = 'download it again (ir-neurons download)'): { weightMap: Record<string, string>; shards: string[] } {
  let idx: { weight_map?: unknown };
  try {
    idx = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not JSON (${(e as Error).message.replace(/\s+/g, ' ')}); ${fix}`);
  }
  const map = idx?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new UserError(`${file}: no 'weight_map' object (tensor name -> shard file); is it a safetensors index?`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const n of shards) {
    if (typeof n !== 'string' || !/^[\w.-]+\.safetensors$/.test(n) || n.includes('..')) throw new UserError(`${file}: weight_map names ${JSON.stringify(n)}, not a .safetensors file beside the index`);
  }
  return { weightMap: map as Record<string, string>, shards: (shards as string[]).sort() };
}

/**
 * The first key that appears twice in one object of the JSON `text` (JSON.parse keeps the last silently), or
 * undefined. A single pass with an explicit stack: no recursion, whatever the nesting.
 */
function duplicateKey(text: string): string | undefined {
  const objects: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) objects.push(new Set()); // {
    else if (c === 0x5b) objects.push(null); // [
    else if (c === 0x7d || c === 0x5d) objects.pop(); // } ]
    else if (c === 0x22) { // a string: find its end, then whether a ':' follows (a key)
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const raw = text.slice(i, j + 1);
      let k = j + 1;
      while (k < text.length && (text[k] === ' ' || text[k] === '\t' || text[k] === '\n' || text[k] === '\r')) k++;
      const keys = objects[objects.length - 1];
      if (text[k] === ':' && keys) {
        const key = JSON.parse(raw) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
      i = j;
    }
  }
  return undefined;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Converts a tensor of any float (or int) dtype to the requested float array type. */
export function toFloat<T extends Float32Array | Float64Array>(t: RawTensor, Ctor: { new (n: number): T }): T {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Ctor(n);
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  switch (t.dtype) {
    case 'F32': for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true); break;
    case 'F64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'F16': for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true)); break;
    case 'BF16': {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) { tmp.setUint32(0, dv.getUint16(2 * i, true) << 16, true); out[i] = tmp.getFloat32(0, true); }
      break;
    }
    case 'I32': for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true); break;
    case 'I64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true)); break;
    default: throw new UserError(`tensor of dtype ${t.dtype} cannot be read as floating point`);
  }
  return out;
}

export interface WriteTensor {
  dtype: 'F32' | 'F64' | 'I32';
  shape: number[];
  data: Float32Array | Float64Array | Int32Array;
}

/** Serialises tensors (in insertion order) to safetensors bytes, with optional string metadata. */
export function serializeSafetensors(tensors: Map<string, WriteTensor> | Record<string, WriteTensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`serializeSafetensors: '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  // Pad with spaces to a multiple of 8 bytes (UTF-8 bytes, not UTF-16 units: names may be non-ASCII), so the
  // data section starts 8-byte aligned, as the reference library writes it.
  const json = new TextEncoder().encode(JSON.stringify(header));
  const hbytes = new Uint8Array(Math.ceil((8 + json.length) / 8) * 8 - 8).fill(0x20);
  hbytes.set(json);
  const out = new Uint8Array(8 + hbytes.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}
