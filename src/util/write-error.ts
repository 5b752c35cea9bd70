/**
 * Failed writes as one-line user errors (Node only). A write that fails because of the disk or its permissions
 * (ENOSPC, EDQUOT, EACCES, EPERM, EROFS, EIO, EFBIG) becomes a WriteError — a UserError, so the CLI prints one
 * line and exits 2 — that names the file, the cause and what to do:
 *
 *   cannot write runs/x/aggregate.safetensors: no space left on device (ENOSPC); free space or move runs/x to
 *   another disk and give that as --out, then rerun with --resume to continue
 *
 * The "what to do" ends with the running command's advice (`setWriteAdvice`: its output flag, how to continue).
 * Any other error is left as it is (a bug stays an internal error). Every write of the commands goes through the
 * writers of src/util/atomic.ts or `guardWrite`.
 *
 * Test hook: IR_NEURONS_FAIL_WRITE=CODE:NAME[@N] makes the N-th write (default the first) of a file or folder whose
 * base name is NAME fail with CODE, in the middle of writing it (tests simulate a full disk with it, without root).
 * Only `failpoint` below reads it.
 */
import { basename, dirname } from 'node:path';
import { UserError } from './errors.ts';

/** What each code means and what to do about it (`dir`: the folder of the file). */
const CAUSES: Record<string, { what: string; fix: (dir: string) => string }> = {
  ENOSPC: { what: 'no space left on device', fix: () => 'free space' },
  EDQUOT: { what: 'disk quota exceeded', fix: () => 'free space within your quota' },
  EACCES: { what: 'permission denied', fix: (dir) => `check the permissions of ${dir}` },
  EPERM: { what: 'operation not permitted', fix: (dir) => `check the permissions (and attributes) of ${dir}` },
  EROFS: { what: 'read-only file system', fix: () => 'remount that file system read-write' },
  EIO: { what: 'input/output error', fix: () => 'check the disk (dmesg)' },
  EFBIG: { what: 'file too large for its file system', fix: () => 'use a file system that allows larger files' },
};

/** How the running command tells the user to go on after a failed write. */
export interface WriteAdvice {
  /** the option that chooses where output goes ('--out', '--dir') */
  flag: string;
  /** the other way out, when the folder holds state to keep (default: `choose another ${flag}`) */
  elsewhere?: string;
  /** how to continue afterwards (a function: asked when the write fails) */
  then: string | (() => string);
}

const DEFAULT_ADVICE: WriteAdvice = { flag: '--out', then: 'run the command again' };
let advice: WriteAdvice = DEFAULT_ADVICE;

/** Sets the advice of the running command (no argument: the default, `--out` and "run the command again"). */
export function setWriteAdvice(a: Partial<WriteAdvice> = {}): void {
  advice = { ...DEFAULT_ADVICE, ...a };
}

/** A write of `file` failed for a reason the user can fix; the message says which and how. */
export class WriteError extends UserError {
  constructor(readonly file: string, readonly code: string) {
    const c = CAUSES[code];
    const dir = file === 'standard output' ? 'the folder it goes to' : dirname(file);
    const elsewhere = file === 'standard output' ? 'redirect it elsewhere' : (advice.elsewhere ?? `choose another ${advice.flag}`);
    const then = typeof advice.then === 'function' ? advice.then() : advice.then;
    super(`cannot write ${file}: ${c.what} (${code}); ${c.fix(dir)} or ${elsewhere}, then ${then}`);
    this.name = 'WriteError';
  }
}

/** `e` as a WriteError naming `file` when its code is one of the disk's; `e` itself otherwise. */
export function writeFailure(e: unknown, file: string): unknown {
  if (e instanceof UserError) return e;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code && Object.hasOwn(CAUSES, code) ? new WriteError(file, code) : e;
}

/** Runs `fn`, a write of `file`, turning a failure of the disk into a WriteError naming `file`. */
export function guardWrite<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw writeFailure(e, file);
  }
}

let armed: string | undefined, seen = 0;

/** The test hook (see the header): throws the configured error when this write of `file` is the one to fail. */
export function failpoint(file: string): void {
  const spec = process.env.IR_NEURONS_FAIL_WRITE;
  if (spec !== armed) [armed, seen] = [spec, 0]; // a new setting counts from the start
  const m = spec && /^([A-Z]+):([^@]+)(?:@(\d+))?$/.exec(spec);
  if (!m || basename(file) !== m[2]) return;
  if (++seen !== Number(m[3] ?? 1)) return;
  throw Object.assign(new Error(`${m[1]}: injected by IR_NEURONS_FAIL_WRITE, write '${file}'`), { code: m[1] });
}
