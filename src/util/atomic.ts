/**
 * The file writes of the commands (Node only). Atomic writes for run outputs: a temporary file beside the target,
 * fsynced, renamed over the target, the folder fsynced. A process killed at any moment (even kill -9) or a machine
 * that loses power leaves either the old file or the new one, never a torn one; a write that fails (a full disk, a
 * read-only folder, anything) removes its temporary file and leaves the target as it was. Failures of the disk
 * become one-line WriteErrors naming the file (src/util/write-error.ts). (src/gpu/autotune.ts keeps its own
 * browser-safe writer, reached through process.getBuiltinModule.)
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { failpoint, guardWrite, writeFailure } from './write-error.ts';

/** Writes `data` (bytes, or text as UTF-8) to `file` atomically. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeAll(fd, bytes, file);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    try { rmSync(tmp, { force: true }); } catch { /* the folder cannot be read: nothing was written */ }
    throw writeFailure(e, file);
  }
  syncDir(dirname(file));
}

/** `value` as JSON (one-space indent, final newline), written atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 1) + '\n');
}

/** Writes all of `bytes` at the position of `fd`, an open descriptor of `file` (named in a WriteError). */
export function writeAll(fd: number, bytes: Uint8Array, file: string): void {
  guardWrite(file, () => {
    let off = writeSync(fd, bytes, 0, bytes.length >> 1);
    failpoint(file);
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  });
}

/** Creates the folder `dir` and its missing parents (nothing when it exists). */
export function makeDir(dir: string): void {
  guardWrite(dir, () => {
    failpoint(dir);
    mkdirSync(dir, { recursive: true });
  });
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
