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

const DTYPE_SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Parses the header and returns views on each tensor's bytes; `file` names the source in errors. */
export function parseSafetensors(buf: Uint8Array, file: string): Map<string, RawTensor> {
  const fail = (what: string): never => {
    throw new UserError(`${file}: not a valid safetensors file: ${what}; re-save it with safetensors' save_file (or transformers' save_pretrained)`);
  };
  if (buf.byteLength < 8) fail(`only ${buf.byteLength} bytes, fewer than the 8-byte header length`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n <= 0 || 8 + n > buf.byteLength) fail(`header length ${n} does not fit in the file's ${buf.byteLength} bytes (truncated?)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n)));
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const out = new Map<string, RawTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = DTYPE_SIZE[t?.dtype as string];
    if (!size) fail(`tensor '${name}' has unknown dtype ${JSON.stringify(t?.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${name}' has a bad shape ${JSON.stringify(t.shape)}`);
    const offs = t.data_offsets as number[];
    if (!Array.isArray(offs) || offs.length !== 2 || !(offs[0] >= 0 && offs[1] >= offs[0])) fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(offs)}`);
    const shape = t.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (offs[1] - offs[0] !== count * size) fail(`tensor '${name}' spans ${offs[1] - offs[0]} bytes but its shape [${shape}] of ${t.dtype} needs ${count * size}`);
    if (dataStart + offs[1] > buf.byteLength) fail(`tensor '${name}' ends at byte ${dataStart + offs[1]}, past the end of the ${buf.byteLength}-byte file (truncated?)`);
    out.set(name, { dtype: t.dtype as string, shape, bytes: buf.subarray(dataStart + offs[0], dataStart + offs[1]) });
  }
  return out;
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
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const hbytes = new TextEncoder().encode(json);
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
