/**
 * Writers of hand-made checkpoint files for loader tests and the fuzz suite: a zip archive (STORED or DEFLATE,
 * with an optional lying size), torch.save's layout around a pickle, pickle opcodes, a state-dict pickle and a
 * safetensors file from raw tensors.
 */
import { deflateRawSync } from 'node:zlib';

const CRC = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
export const crc32 = (b: Uint8Array): number => { let c = 0xffffffff; for (const x of b) c = CRC[(c ^ x) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };

/** An entry: its name and bytes; `deflated` gives the compressed body as is, `size` the size the headers declare. */
export type ZipIn = [string, Uint8Array] | [string, Uint8Array, { deflated?: Uint8Array; size?: number }];

/** A zip archive (STORED, or DEFLATE when `deflate` or the entry brings its body) of the given entries, in order. */
export function makeZip(entries: ZipIn[], deflate = false): Uint8Array {
  const locals: Buffer[] = [], centrals: Buffer[] = [];
  let off = 0;
  for (const [name, data, o = {}] of entries) {
    const isDeflate = deflate || !!o.deflated;
    const nm = Buffer.from(name), body = o.deflated ? Buffer.from(o.deflated) : deflate ? deflateRawSync(data) : Buffer.from(data), crc = crc32(data);
    const size = o.size ?? data.length;
    const fields = (h: Buffer, at: number) => {
      h.writeUInt16LE(isDeflate ? 8 : 0, at); h.writeUInt32LE(crc, at + 6); h.writeUInt32LE(body.length, at + 10);
      h.writeUInt32LE(size, at + 14); h.writeUInt16LE(nm.length, at + 18);
    };
    const lh = Buffer.alloc(30); lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); fields(lh, 8);
    const ch = Buffer.alloc(46); ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 6); fields(ch, 10); ch.writeUInt32LE(off, 42);
    locals.push(lh, nm, body); centrals.push(ch, nm);
    off += 30 + nm.length + body.length;
  }
  const cd = Buffer.concat(centrals), end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(off, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, end]));
}

/** torch.save's layout: archive/data.pkl, archive/data/<key> per storage, archive/version, then `extra`. */
export const torchZip = (pkl: Uint8Array, storages: ZipIn[] = [], extra: ZipIn[] = []): Uint8Array =>
  makeZip([['archive/data.pkl', pkl], ...storages.map(([k, ...rest]): ZipIn => [`archive/data/${k}`, ...rest] as ZipIn), ['archive/version', Buffer.from('3\n')], ...extra]);

/** Pickle opcodes as bytes (protocol 2). */
export const P = {
  proto: [0x80, 2], mark: [0x28], stop: [0x2e], emptyTuple: [0x29], emptyDict: [0x7d], emptyList: [0x5d], tuple: [0x74], tuple1: [0x85],
  reduce: [0x52], binpersid: [0x51], setitems: [0x75], setitem: [0x73], build: [0x62], newfalse: [0x89], appends: [0x65],
  global: (mod: string, name: string) => [0x63, ...Buffer.from(`${mod}\n${name}\n`)],
  str: (s: string) => { const b = Buffer.from(s); return [0x58, b.length & 255, (b.length >> 8) & 255, 0, 0, ...b]; },
  int: (n: number) => [0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255],
  ints: (xs: number[]) => [0x28, ...xs.flatMap((x) => P.int(x)), 0x74],
};
export const pickle = (...parts: number[][]) => new Uint8Array(parts.flat());

/** One tensor of a state-dict pickle: (name, storage type, key, numel, offset, size, stride). */
export type PickledTensor = [string, string, string, number, number, number[], number[]];

/** A state-dict pickle (an OrderedDict of `_rebuild_tensor_v2` calls), optionally with `_metadata`. */
export function stateDictPickle(ts: PickledTensor[], metadata = false): Uint8Array {
  const parts: number[][] = [P.proto, P.global('collections', 'OrderedDict'), P.emptyTuple, P.reduce, P.mark];
  for (const [name, stype, key, numel, offset, size, stride] of ts) {
    parts.push(P.str(name), P.global('torch._utils', '_rebuild_tensor_v2'), P.mark,
      P.mark, P.str('storage'), P.global('torch', stype), P.str(key), P.str('cpu'), P.int(numel), P.tuple, P.binpersid,
      P.int(offset), P.ints(size), P.ints(stride), P.newfalse, P.global('collections', 'OrderedDict'), P.emptyTuple, P.reduce,
      P.tuple, P.reduce);
  }
  parts.push(P.setitems);
  if (metadata) parts.push(P.emptyDict, P.str('_metadata'), P.emptyDict, P.setitem, P.build);
  parts.push(P.stop);
  return pickle(...parts);
}
export const f32Bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

/** A safetensors file from raw tensors of any dtype; `offsets` overrides a tensor's data_offsets as written. */
export function rawSafetensors(ts: [string, string, number[], Uint8Array][], offsets: Record<string, unknown> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, dtype, shape, b] of ts) { header[name] = { dtype, shape, data_offsets: offsets[name] ?? [off, off + b.length] }; off += b.length; }
  const h = Buffer.from(JSON.stringify(header)), len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return new Uint8Array(Buffer.concat([len, h, ...ts.map((t) => Buffer.from(t[3]))]));
}
