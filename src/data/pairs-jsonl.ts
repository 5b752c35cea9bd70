/** Reads `{"id","query","passage"}` lines (JSONL), the input of `ir-neurons score` and `attribute`; the rules are
 * src/data/pairs-text.ts's (the page parses its pairs files with the same parser). */
import { existsSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { displayName, readInput, STDIN } from '../util/stdio.ts';
import { parsePairs, parsePairsBytes, type PairInput } from './pairs-text.ts';

export type { PairInput } from './pairs-text.ts';

/** JSONL text → pairs: ids required, no TSV (`parsePairs` with no options). */
export function parsePairsJsonl(text: string, file: string): PairInput[] {
  return parsePairs(text, file);
}

export function readPairsJsonl(file: string): PairInput[] {
  if (file !== STDIN && !existsSync(file)) throw new UserError(`${file}: no such file; --pairs takes a JSONL file of {"id","query","passage"} lines (or - for standard input)`);
  const name = displayName(file);
  return parsePairsBytes(readInput(file), name);
}
