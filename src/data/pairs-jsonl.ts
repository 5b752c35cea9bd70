/** Reads `{"id","query","passage"}` lines (JSONL), the input of `ir-neurons score` and `attribute`. */
import { existsSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { decodeUtf8, stripBom } from './text.ts';
import { displayName, readInput, STDIN } from '../util/stdio.ts';

export interface PairInput {
  id: string;
  query: string;
  passage: string;
}

export function parsePairsJsonl(text: string, file: string): PairInput[] {
  const out: PairInput[] = [];
  const seen = new Set<string>();
  const lines = stripBom(text).split(/\r?\n/);
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${where}: not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')}); each line must be {"id": ..., "query": ..., "passage": ...}`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UserError(`${where}: expected a JSON object with id, query and passage`);
    const id = typeof o.id === 'number' ? String(o.id) : o.id;
    if (typeof id !== 'string' || !id) throw new UserError(`${where}: missing "id" (a non-empty string or number)`);
    for (const k of ['query', 'passage'] as const) {
      if (typeof o[k] !== 'string') throw new UserError(`${where}: "${k}" must be a string (pair ${id})`);
    }
    if (!(o.query as string).trim()) throw new UserError(`${where}: empty query (pair ${id})`);
    if (seen.has(id)) throw new UserError(`${where}: duplicate id '${id}'; ids must be unique`);
    seen.add(id);
    out.push({ id, query: o.query as string, passage: o.passage as string });
  });
  if (!out.length) throw new UserError(`${file}: no pairs found; expected one JSON object per line`);
  return out;
}

export function readPairsJsonl(file: string): PairInput[] {
  if (file !== STDIN && !existsSync(file)) throw new UserError(`${file}: no such file; --pairs takes a JSONL file of {"id","query","passage"} lines (or - for standard input)`);
  const name = displayName(file);
  return parsePairsJsonl(decodeUtf8(readInput(file), name), name);
}
