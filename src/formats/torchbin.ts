/**
 * PyTorch `pytorch_model.bin` (torch.save zip format) -> state dict of RawTensor, without running any code.
 *
 * Layout of the zip: `<prefix>/data.pkl` (a pickle of the state dict), `<prefix>/data/<key>` (one raw
 * little-endian storage per key), optional `<prefix>/byteorder` and `<prefix>/version`.
 * The pickle is read by a restricted unpickler: a stack machine over the data-only opcodes that torch.save
 * emits, where GLOBAL may only name an allow-list (OrderedDict, the tensor rebuild functions, storage types).
 * Nothing is ever called: REDUCE on an allowed global builds a plain JS value. Anything else is refused.
 * No Node imports except zlib's raw inflate (DEFLATE entries are rare: torch writes STORED entries).
 */
import { inflateRawSync } from 'node:zlib';
import { UserError } from '../util/errors.ts';
import type { RawTensor } from './safetensors.ts';

// ---------------------------------------------------------------- zip

export interface ZipEntry {
  name: string;
  method: number;      // 0 STORED, 8 DEFLATE
  compressedSize: number;
  size: number;
  dataOffset: number;  // byte offset of the entry's data in the archive
}

/** A name from the file, as it may appear in a one-line message: control characters escaped, at most 100 characters. */
export function clip(s: string): string {
  const t = s.length > 100 ? `${s.slice(0, 97)}...` : s;
  return t.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const u16 = (dv: DataView, o: number) => dv.getUint16(o, true);
const u32 = (dv: DataView, o: number) => dv.getUint32(o, true);
const u64 = (dv: DataView, o: number) => Number(dv.getBigUint64(o, true));

/** Reads the central directory of a zip archive (zip64 records included). */
export function readZip(buf: Uint8Array, file: string): Map<string, ZipEntry> {
  const fail = (what: string): never => {
    throw new UserError(`${file}: not a readable zip archive: ${what}; re-save it with torch.save or convert it to safetensors`);
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let p = buf.byteLength - 22; p >= Math.max(0, buf.byteLength - 22 - 0xffff); p--) {
    if (u32(dv, p) === 0x06054b50) { eocd = p; break; }
  }
  if (eocd < 0) fail(`no end-of-central-directory record in ${buf.byteLength} bytes (truncated?)`);
  let count = u16(dv, eocd + 10);
  let cdSize = u32(dv, eocd + 12);
  let cdOff = u32(dv, eocd + 16);
  if ((count === 0xffff || cdOff === 0xffffffff || cdSize === 0xffffffff) && eocd >= 20 && u32(dv, eocd - 20) === 0x07064b50) {
    const z64 = u64(dv, eocd - 12);
    if (z64 + 56 > buf.byteLength || u32(dv, z64) !== 0x06064b50) fail('bad zip64 end-of-central-directory record');
    count = u64(dv, z64 + 32);
    cdSize = u64(dv, z64 + 40);
    cdOff = u64(dv, z64 + 48);
  }
  if (cdOff + cdSize > buf.byteLength) fail(`central directory at byte ${cdOff} runs past the end of the file (truncated?)`);
  const entries = new Map<string, ZipEntry>();
  let p = cdOff;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.byteLength || u32(dv, p) !== 0x02014b50) fail(`central directory entry ${i} is corrupt`);
    const method = u16(dv, p + 10);
    let csize = u32(dv, p + 20);
    let size = u32(dv, p + 24);
    const nameLen = u16(dv, p + 28), extraLen = u16(dv, p + 30), commentLen = u16(dv, p + 32);
    let local = u32(dv, p + 42);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: the 64-bit values present are those whose 32-bit field is 0xffffffff.
    const extraEnd = p + 46 + nameLen + extraLen;
    if (extraEnd + commentLen > buf.byteLength) fail(`central directory entry ${i} runs past the end of the file`);
    for (let e = p + 46 + nameLen; e + 4 <= extraEnd;) {
      const id = u16(dv, e), len = u16(dv, e + 2);
      if (e + 4 + len > extraEnd) fail(`entry '${clip(name)}' has an extra field that runs past its header`);
      if (id === 0x0001) {
        let q = e + 4;
        const field = (): number => { if (q + 8 > e + 4 + len) fail(`entry '${clip(name)}' has a short zip64 field`); const v = u64(dv, q); q += 8; return v; };
        if (size === 0xffffffff) size = field();
        if (csize === 0xffffffff) csize = field();
        if (local === 0xffffffff) local = field();
      }
      e += 4 + len;
    }
    if (local + 30 > buf.byteLength || u32(dv, local) !== 0x04034b50) fail(`local header of '${clip(name)}' is missing or corrupt`);
    const dataOffset = local + 30 + u16(dv, local + 26) + u16(dv, local + 28);
    if (dataOffset + csize > buf.byteLength) fail(`entry '${clip(name)}' ends at byte ${dataOffset + csize}, past the end of the ${buf.byteLength}-byte file (truncated?)`);
    if (method !== 0 && method !== 8) fail(`entry '${clip(name)}' uses compression method ${method}; only STORED and DEFLATE are supported`);
    if (entries.has(name)) fail(`entry '${clip(name)}' appears twice`);
    entries.set(name, { name, method, compressedSize: csize, size, dataOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Default bound on one entry's inflated size (the most Node reads into one buffer). */
export const MAX_ENTRY_BYTES = 2 ** 31 - 1;

/**
 * The bytes of one entry: a view for STORED entries, a fresh buffer for DEFLATE ones. The size the header
 * declares must be at most `maxBytes`, and inflating stops as soon as the output passes that declared size,
 * so a deflate bomb costs at most min(declared size, maxBytes) bytes.
 */
export function zipEntryBytes(buf: Uint8Array, e: ZipEntry, file: string, maxBytes = MAX_ENTRY_BYTES): Uint8Array {
  const raw = buf.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.size > maxBytes) {
    throw new UserError(`${file}: entry '${clip(e.name)}' declares ${e.size} inflated bytes, more than the ${maxBytes} allowed here; the file is corrupt or not what it claims to be`);
  }
  let out: Uint8Array;
  try {
    out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new UserError(`${file}: entry '${clip(e.name)}' inflates to more than the ${e.size} bytes its header says (inflating stopped there); the file is corrupt or hostile, download it again`);
    }
    throw new UserError(`${file}: entry '${clip(e.name)}' does not inflate (${(err as Error).message}); the file is corrupt, download it again`);
  }
  if (out.byteLength !== e.size) throw new UserError(`${file}: entry '${clip(e.name)}' inflates to ${out.byteLength} bytes, not the ${e.size} its header says; the file is corrupt`);
  return out;
}

// ---------------------------------------------------------------- restricted unpickler

const STORAGE_DTYPE: Record<string, [string, number]> = {
  FloatStorage: ['F32', 4], HalfStorage: ['F16', 2], BFloat16Storage: ['BF16', 2], DoubleStorage: ['F64', 8],
  LongStorage: ['I64', 8], IntStorage: ['I32', 4], ShortStorage: ['I16', 2], CharStorage: ['I8', 1],
  ByteStorage: ['U8', 1], BoolStorage: ['BOOL', 1],
};
const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPE).map((s) => `torch.${s}`),
]);

class PyGlobal { constructor(readonly name: string) {} }
class PyDict { readonly map = new Map<unknown, unknown>(); }
class StorageRef { constructor(readonly key: string, readonly dtype: string, readonly itemSize: number, readonly numel: number) {} }
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

/**
 * Unpickles `data` (protocol <= 2 plus a few data-only protocol 4 opcodes) into JS values. Like CPython's
 * unpickler, MARK saves the current stack on a metastack and starts a new one, so finding a mark is O(1) and
 * nothing below a mark can be popped. No recursion and no spread of attacker-sized arrays: every opcode costs
 * time proportional to the bytes it reads or the items it moves.
 */
function unpickle(data: Uint8Array, file: string): unknown {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const bad = (what: string): never => {
    throw new UserError(`${file}: data.pkl ${what}; re-save the state dict with torch.save or convert it to safetensors`);
  };
  const need = (n: number) => { if (p + n > data.byteLength) bad(`ends early at byte ${p} (truncated?)`); };
  const pop = (): unknown => (stack.length ? stack.pop() : bad(`pops an empty stack at byte ${p}`));
  const top = (): unknown => (stack.length ? stack[stack.length - 1] : bad(`uses an empty stack at byte ${p}`));
  const popMark = (): unknown[] => {
    const items = stack;
    stack = metastack.pop() ?? bad(`has no MARK before byte ${p}`);
    return items;
  };
  const str = (n: number): string => {
    need(n);
    let s: string;
    try { s = dec.decode(data.subarray(p, p + n)); } catch { return bad(`has a string that is not UTF-8 at byte ${p}`); }
    p += n;
    return s;
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, p);
    if (end < 0 || end - p > 256) bad(`has an unterminated GLOBAL at byte ${p}`);
    const s = new TextDecoder().decode(data.subarray(p, end));
    p = end + 1;
    return s;
  };
  const global = (mod: string, name: string): PyGlobal => {
    const full = `${mod}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) {
      throw new UserError(`${file}: the pickle references a forbidden global '${clip(full)}' and was refused (nothing was run); only tensors in an OrderedDict are read — get the weights as model.safetensors from a trusted source`);
    }
    return new PyGlobal(full);
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof PyDict)) bad(`sets items on a ${typeName(d)}, not a dict`);
    if (kv.length % 2) bad(`sets items from an odd number (${kv.length}) of keys and values`);
    for (let i = 0; i + 1 < kv.length; i += 2) (d as PyDict).map.set(kv[i], kv[i + 1]);
  };
  const append = (vs: unknown[]) => {
    const l = top();
    if (!Array.isArray(l)) bad('appends to a non-list');
    for (const v of vs) (l as unknown[]).push(v);
  };
  const memoPut = (k: number) => memo.set(k, top());
  while (true) {
    need(1);
    const op = data[p++];
    switch (op) {
      case 0x80: need(1); if (data[p] > 5) bad(`uses pickle protocol ${data[p]}`); p += 1; break; // PROTO
      case 0x95: need(8); p += 8; break; // FRAME
      case 0x2e: { // STOP
        const v = pop();
        if (metastack.length) bad('stops with an open MARK');
        return v;
      }
      case 0x28: metastack.push(stack); stack = []; break; // MARK
      case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x71: need(1); memoPut(data[p]); p += 1; break; // BINPUT
      case 0x72: need(4); memoPut(u32(dv, p)); p += 4; break; // LONG_BINPUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const n = op === 0x68 ? 1 : 4;
        need(n);
        const k = n === 1 ? data[p] : u32(dv, p);
        p += n;
        if (!memo.has(k)) bad(`reads memo slot ${k} that was never written`);
        stack.push(memo.get(k));
        break;
      }
      case 0x4b: need(1); stack.push(data[p]); p += 1; break; // BININT1
      case 0x4d: need(2); stack.push(u16(dv, p)); p += 2; break; // BININT2
      case 0x4a: need(4); stack.push(dv.getInt32(p, true)); p += 4; break; // BININT
      case 0x8a: { // LONG1: n-byte little-endian two's complement
        need(1);
        const n = data[p++];
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]);
        if (n > 0 && data[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: need(8); stack.push(dv.getFloat64(p, false)); p += 8; break; // BINFLOAT (big-endian)
      case 0x58: need(4); { const n = u32(dv, p); p += 4; stack.push(str(n)); } break; // BINUNICODE
      case 0x8c: need(1); { const n = data[p]; p += 1; stack.push(str(n)); } break; // SHORT_BINUNICODE
      case 0x63: { const mod = line(); stack.push(global(mod, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), mod = pop();
        if (typeof mod !== 'string' || typeof name !== 'string') bad(`has a STACK_GLOBAL without string names at byte ${p}`);
        stack.push(global(mod as string, name as string));
        break;
      }
      case 0x74: { const items = popMark(); stack.push(items); break; } // TUPLE (popMark replaces `stack`: call it first)
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x61: append([pop()]); break; // APPEND
      case 0x65: append(popMark()); break; // APPENDS
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x51: stack.push(persistentLoad(pop(), bad)); break; // BINPERSID
      case 0x52: { const args = pop(), fn = pop(); stack.push(reduce(fn, args, bad)); break; } // REDUCE
      case 0x62: { // BUILD: only dict state on a dict (an OrderedDict's `_metadata`), which is ignored
        const state = pop();
        const obj = top();
        if (!(obj instanceof PyDict) || !(state instanceof PyDict || state === null)) bad(`BUILDs a ${typeName(obj)} from a ${typeName(state)}`);
        break;
      }
      default:
        bad(`uses pickle opcode 0x${op.toString(16).padStart(2, '0')}${op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ''} at byte ${p - 1}, which a torch.save state dict never needs`);
    }
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return `global ${v.name}`;
  if (v instanceof PyDict) return 'dict';
  if (v instanceof TensorRef) return 'tensor';
  if (v instanceof StorageRef) return 'storage';
  return Array.isArray(v) ? 'tuple/list' : typeof v;
}

/** BINPERSID: torch's persistent id `('storage', <StorageType>, key, location, numel)`. */
function persistentLoad(pid: unknown, bad: (what: string) => never): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length !== 5) return bad(`has a persistent id that is not a torch storage: ${typeName(pid)}`);
  const [, type, key, , numel] = pid;
  if (!(type instanceof PyGlobal) || typeof key !== 'string' || !Number.isInteger(numel) || numel < 0) return bad('has a malformed storage persistent id');
  const [dtype, size] = STORAGE_DTYPE[type.name.replace(/^torch\./, '')] ?? bad(`names ${type.name} as a storage type`);
  return new StorageRef(key, dtype, size, numel);
}

const isIntTuple = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => Number.isInteger(d) && d >= 0);

/** REDUCE: builds the value an allowed callable would return, without calling anything. */
function reduce(fn: unknown, args: unknown, bad: (what: string) => never): unknown {
  if (!(fn instanceof PyGlobal) || !Array.isArray(args)) return bad(`REDUCEs a ${typeName(fn)} with ${typeName(args)}`);
  switch (fn.name) {
    case 'collections.OrderedDict': {
      const d = new PyDict();
      for (const kv of Array.isArray(args[0]) ? args[0] : []) if (Array.isArray(kv) && kv.length === 2) d.map.set(kv[0], kv[1]);
      return d;
    }
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof StorageRef) || !Number.isInteger(offset) || !isIntTuple(size) || !isIntTuple(stride) || size.length !== stride.length) {
        return bad('calls _rebuild_tensor_v2 with malformed arguments');
      }
      return new TensorRef(storage, offset as number, size, stride);
    }
    case 'torch._utils._rebuild_parameter': // (data, requires_grad, backward_hooks)
      if (!(args[0] instanceof TensorRef)) return bad('calls _rebuild_parameter without a tensor');
      return args[0];
    default:
      return bad(`REDUCEs ${fn.name}, which is not callable here`);
  }
}

// ---------------------------------------------------------------- state dict

const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** Hard limits on what reading a .bin may cost. */
export interface TorchBinLimits {
  /**
   * Most bytes (default 2^31 − 1) that may be inflated from DEFLATE entries in total, and separately that the
   * state dict's tensors may span in total (views and materialised copies alike); checked before each inflate
   * and each copy. loadCheckpoint passes what config.json implies, plus a small margin.
   */
  maxBytes?: number;
  /** Says where maxBytes comes from, for messages (e.g. "what config.json implies"). */
  why?: string;
}

/** The most a data.pkl may inflate to: a BERT-large state dict's pickle is about 50 kB. */
const MAX_PICKLE_BYTES = 64 * 2 ** 20;

/**
 * Reads a torch.save zip archive of a state dict into name -> RawTensor (little-endian bytes, contiguous).
 * Every tensor's element range is checked against the bytes of its storage on every use (two tensors may
 * share a storage key with different sizes; the larger must fit too, never be clamped), and nothing larger
 * than `limits.maxBytes` is inflated or materialised.
 */
export function parseTorchBin(buf: Uint8Array, file: string, limits: TorchBinLimits = {}): Map<string, RawTensor> {
  const maxBytes = limits.maxBytes ?? MAX_ENTRY_BYTES;
  const why = limits.why ? ` (${limits.why})` : '';
  if (buf.byteLength >= 2 && buf[0] === 0x80 && buf[1] <= 5) {
    const legacy = LEGACY_MAGIC.every((b, i) => buf[i] === b);
    throw new UserError(`${file}: ${legacy ? 'legacy (pre-1.6, non-zip) torch.save format' : 'a bare pickle, not a torch.save zip archive'}, which is not read; re-save it with torch.save(state_dict, path, _use_new_zipfile_serialization=True) or convert it to safetensors`);
  }
  if (buf.byteLength < 4 || buf[0] !== 0x50 || buf[1] !== 0x4b || buf[2] !== 0x03 || buf[3] !== 0x04) {
    throw new UserError(`${file}: not a PyTorch checkpoint (no zip signature at the start); download pytorch_model.bin again or use model.safetensors`);
  }
  const entries = readZip(buf, file);
  const pkls = [...entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if ([...entries.keys()].some((n) => n.endsWith('constants.pkl'))) {
    throw new UserError(`${file}: a TorchScript archive, not a state dict; save model.state_dict() with torch.save or convert to safetensors`);
  }
  if (pkls.length !== 1) throw new UserError(`${file}: expected one data.pkl in the zip, found ${pkls.length}; this is not a torch.save archive — convert it to safetensors`);
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order) {
    const s = new TextDecoder().decode(zipEntryBytes(buf, order, file, 64)).trim();
    if (s !== 'little') throw new UserError(`${file}: storages are ${clip(s)}-endian; re-save the checkpoint on a little-endian machine or convert it to safetensors`);
  }
  let root = unpickle(zipEntryBytes(buf, entries.get(pkls[0])!, file, Math.min(maxBytes, MAX_PICKLE_BYTES)), file);
  if (root instanceof PyDict && root.map.get('state_dict') instanceof PyDict) root = root.map.get('state_dict');
  if (!(root instanceof PyDict)) throw new UserError(`${file}: the pickle holds a ${typeName(root)}, not a state dict; save model.state_dict() with torch.save`);

  const storages = new Map<string, { bytes: Uint8Array; dtype: string }>();
  let inflated = 0, spanned = 0;
  const storageBytes = (s: StorageRef): Uint8Array => {
    let st = storages.get(s.key);
    if (!st) {
      const e = entries.get(`${prefix}data/${s.key}`);
      if (!e) throw new UserError(`${file}: storage '${clip(s.key)}' is referenced by the pickle but missing from the zip (truncated?); download the checkpoint again`);
      if (e.method !== 0) {
        if (inflated + e.size > maxBytes) throw new UserError(`${file}: storage '${clip(s.key)}' would inflate the total to ${inflated + e.size} bytes, more than the ${maxBytes} allowed${why}; the checkpoint is corrupt, hostile or not for this config`);
        inflated += e.size;
      }
      st = { bytes: zipEntryBytes(buf, e, file, maxBytes), dtype: s.dtype };
      storages.set(s.key, st);
    }
    // On every use, not only the first: another reference to the same key may claim a larger or other-typed storage.
    if (st.dtype !== s.dtype) throw new UserError(`${file}: storage '${clip(s.key)}' is read as ${s.dtype} after ${st.dtype}; torch.save never writes that, the file is corrupt`);
    if (st.bytes.byteLength < s.numel * s.itemSize) throw new UserError(`${file}: storage '${clip(s.key)}' holds ${st.bytes.byteLength} bytes, fewer than its ${s.numel} ${s.dtype} elements need; the file is corrupt`);
    return st.bytes;
  };
  const out = new Map<string, RawTensor>();
  for (const [name, t] of root.map) {
    if (typeof name !== 'string' || !(t instanceof TensorRef)) continue; // e.g. `_metadata` or non-tensor extras
    let numel = 1;
    for (const d of t.shape) numel *= d;
    const bytes = numel * t.storage.itemSize;
    if (spanned + bytes > maxBytes) throw new UserError(`${file}: tensor '${clip(name)}' (shape [${t.shape}]) brings the state dict to ${spanned + bytes} bytes, more than the ${maxBytes} allowed${why}; the checkpoint is corrupt, hostile or not for this config`);
    spanned += bytes;
    out.set(name, { dtype: t.storage.dtype, shape: t.shape, bytes: tensorBytes(t, storageBytes(t.storage), name, file) });
  }
  if (out.size === 0) throw new UserError(`${file}: the state dict holds no tensors; is this a model checkpoint?`);
  return out;
}

/**
 * A tensor's bytes in row-major order: a view when its strides are contiguous, a gathered copy otherwise
 * (its size was bounded by the caller). The highest element touched must lie inside the storage's bytes.
 */
function tensorBytes(t: TensorRef, storage: Uint8Array, name: string, file: string): Uint8Array {
  const es = t.storage.itemSize;
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (numel === 0) return new Uint8Array(0);
  // Highest element index touched, to check bounds once for any strides.
  const last = t.offset + t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
  if (t.offset < 0 || last >= t.storage.numel || (last + 1) * es > storage.byteLength) {
    throw new UserError(`${file}: tensor '${clip(name)}' (shape [${t.shape}], offset ${t.offset}, strides [${t.stride}]) reaches past its storage of ${t.storage.numel} elements; the file is corrupt`);
  }
  let contiguous = true;
  for (let i = t.shape.length - 1, expect = 1; i >= 0; i--) {
    if (t.shape[i] !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= t.shape[i];
  }
  if (contiguous) return storage.subarray(t.offset * es, (t.offset + numel) * es);
  // A non-contiguous view (e.g. an expanded tensor with stride 0) may be larger than its storage.
  const out = new Uint8Array(numel * es);
  const idx = new Array<number>(t.shape.length).fill(0);
  for (let k = 0; k < numel; k++) {
    let src = t.offset;
    for (let i = 0; i < idx.length; i++) src += idx[i] * t.stride[i];
    out.set(storage.subarray(src * es, (src + 1) * es), k * es);
    for (let i = idx.length - 1; i >= 0 && ++idx[i] === t.shape[i]; i--) idx[i] = 0;
  }
  return out;
}
