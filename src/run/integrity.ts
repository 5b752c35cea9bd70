/**
 * Checksums of the run files (checkpoint, aggregate, pair vectors). Each file's metadata carries `sha256`: the
 * hash of its other metadata (sorted keys) and of every tensor (sorted by name: name, dtype, shape, bytes). A
 * flipped byte in a tensor, an edited `done` or `key`, a renamed or reshaped tensor — any of them fails the check,
 * and the file is refused with a one-line error before its numbers are used.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { readSafetensors, serializeSafetensors, type RawTensor, type WriteTensor } from '../formats/safetensors.ts';

interface Entry { dtype: string; shape: number[]; bytes: Uint8Array }

function digest(tensors: Iterable<[string, Entry]>, meta: Record<string, string>): string {
  const h = createHash('sha256');
  const m = Object.keys(meta).filter((k) => k !== 'sha256').sort().map((k) => [k, meta[k]]);
  h.update(JSON.stringify(m));
  for (const [name, t] of [...tensors].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    h.update(`\n${name}\0${t.dtype}\0${t.shape.join(',')}\0${t.bytes.byteLength}\0`);
    h.update(t.bytes);
  }
  return h.digest('hex');
}

const bytesOf = (d: WriteTensor['data']) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** safetensors bytes whose metadata carries the checksum of its tensors and metadata. */
export function sealSafetensors(tensors: Map<string, WriteTensor>, meta: Record<string, string>): Uint8Array {
  const sha256 = digest([...tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: bytesOf(t.data) }] as [string, Entry]), meta);
  return serializeSafetensors(tensors, { ...meta, sha256 });
}

/** The `__metadata__` of a safetensors file (strings only), read by the strict parser. */
export function readMetadata(buf: Uint8Array, file: string): Record<string, string> {
  return readSafetensors(buf, file).metadata;
}

export interface Sealed {
  tensors: Map<string, RawTensor>;
  meta: Record<string, string>;
}

/** Reads a sealed run file and verifies its checksum; `what` says what to do when it fails. */
export function openSealed(file: string, what: string): Sealed {
  let buf: Uint8Array;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${what}`);
  }
  const { tensors, metadata: meta } = readSafetensors(buf, file);
  if (!meta.sha256) throw new UserError(`${file}: has no checksum (written by an older version, or not a run file); ${what}`);
  const got = digest(tensors, meta);
  if (got !== meta.sha256) throw new UserError(`${file}: checksum mismatch (sha256 of its tensors and metadata is ${got.slice(0, 12)}…, the file says ${meta.sha256.slice(0, 12)}…): the file was changed or damaged; ${what}`);
  return { tensors, meta };
}
