/**
 * `-` as a file name: standard input where a command reads one file, standard output where it writes one (the
 * habit of Unix tools). `readInput` reads a file or, for `-`, all of standard input; `STDIO_NAME` is how messages
 * name it.
 */
import { readFileSync } from 'node:fs';

export const STDIN = '-';

/** The name messages use for `file`. */
export function displayName(file: string, dir: 'in' | 'out' = 'in'): string {
  return file === STDIN ? (dir === 'in' ? 'standard input' : 'standard output') : file;
}

/** The bytes of `file`, or of standard input for `-` (read to its end). */
export function readInput(file: string): Buffer {
  return readFileSync(file === STDIN ? 0 : file);
}
