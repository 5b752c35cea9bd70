/**
 * Output paths checked before any long work starts (Node only): an output folder is created level by level
 * (never `mkdirSync(recursive)`, which loops forever under /proc), an output file must not be a folder and its
 * folder must exist, and both are probed for writing. Every failure is a one-line UserError naming the path.
 * Also: JSON files read with an error that names the file.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from './errors.ts';

const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Writes and removes a probe file in `dir`; throws a UserError naming `what` when that fails. */
export function probeWritable(dir: string, what: string): void {
  const probe = resolve(dir, `.ir-neurons-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (e) {
    throw new UserError(`${dir}: ${what} is not writable (${why(e)}); choose a folder you can write to`);
  }
}

/**
 * Makes sure `dir` is a writable folder, creating it and any missing parents. Returns the folders it created
 * (deepest last), so a refused run can remove them again (`removeCreated`).
 */
export function prepareOutDir(dir: string, what = '--out'): string[] {
  const abs = resolve(dir);
  const missing: string[] = [];
  let p = abs;
  while (!existsSync(p)) {
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  if (existsSync(p) && !statSync(p).isDirectory()) {
    throw new UserError(p === abs ? `${dir}: ${what} is a file, not a folder; give a folder (it is created if missing)` : `${dir}: ${what} cannot be created, ${p} is a file; give a path under a folder`);
  }
  const created: string[] = [];
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      removeCreated(created);
      throw new UserError(`${dir}: cannot create the ${what} folder ${m} (${why(e)}); choose a writable place`);
    }
    created.push(m);
  }
  try {
    probeWritable(abs, `the ${what} folder`);
  } catch (e) {
    removeCreated(created);
    throw e;
  }
  return created;
}

/**
 * Checks, creating nothing, that `dir` could be prepared as an output folder: it is a folder, or its nearest
 * existing parent is a writable folder. Run it before long work; `prepareOutDir` makes the folder later.
 */
export function checkOutDir(dir: string, what = '--out'): void {
  const abs = resolve(dir);
  let p = abs;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  if (!statSync(p).isDirectory()) {
    throw new UserError(p === abs ? `${dir}: ${what} is a file, not a folder; give a folder (it is created if missing)` : `${dir}: ${what} cannot be created, ${p} is a file; give a path under a folder`);
  }
  probeWritable(p, p === abs ? `the ${what} folder` : `${p} (where ${what} would be created)`);
}

/** Removes folders made by `prepareOutDir` (deepest first), where they are still empty. */
export function removeCreated(created: readonly string[]): void {
  for (const d of [...created].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (or gone): leave it
    }
  }
}

/** Checks that `file` can be written as an output file: not a folder, its folder exists and is writable. */
export function checkOutFile(file: string, what = '--out'): void {
  const abs = resolve(file);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new UserError(`${file}: ${what} is a folder; give a file name (e.g. ${file.replace(/\/+$/, '')}/out.json)`);
  const dir = dirname(abs);
  if (!existsSync(dir)) throw new UserError(`${file}: ${what} is to be written in ${dir}, which does not exist; create it first (mkdir -p ${dir})`);
  if (!statSync(dir).isDirectory()) throw new UserError(`${file}: ${dir} is a file, not a folder; give ${what} under a folder`);
  probeWritable(dir, `the folder of ${what}`);
}

/** Reads `file` as JSON; a missing or malformed file is a UserError naming it and `fix`. */
export function readJsonFile<T = unknown>(file: string, fix: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot be read (${why(e)}); ${fix}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')}); ${fix}`);
  }
}
