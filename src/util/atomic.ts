/**
 * Atomic file writes for run outputs (Node only): write a temporary file beside the target, fsync it, rename it
 * over the target, fsync the folder. A process killed at any moment (even kill -9) or a machine that loses power
 * leaves either the old file or the new one, never a torn one. (src/gpu/autotune.ts keeps its own browser-safe
 * writer, reached through process.getBuiltinModule.)
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes `data` (bytes, or text as UTF-8) to `file` atomically. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDir(dirname(file));
}

/** `value` as JSON (one-space indent, final newline), written atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 1) + '\n');
}

/** Makes a rename in `dir` durable; a no-op where folders cannot be opened for fsync (Windows). */
function syncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on a folder; the rename itself is still atomic
  } finally {
    closeSync(fd);
  }
}
