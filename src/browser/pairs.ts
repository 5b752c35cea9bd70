/**
 * The page's list of pairs: entries (id, query, passage, and once computed the encoded pair and its NIG), read from
 * a file the user gives — JSONL lines `{"id", "query", "passage"}` as `ir-neurons attribute --pairs` takes, or TSV
 * lines `id<TAB>query<TAB>passage` / `query<TAB>passage` — and drawn as a list to step through.
 * (src/data/pairs-jsonl.ts reads the same JSONL in Node, but imports node:fs, which the page may not bundle.)
 */
import { UserError } from '../util/errors.ts';
import type { NigResult } from '../ig/engine.ts';
import type { EncodedPair } from '../model/types.ts';
import { fmt } from './heatmap.ts';

export interface PairEntry {
  id: string;
  query: string;
  passage: string;
  /** the encoded pair the result belongs to */
  encoded?: EncodedPair;
  result?: NigResult;
}

/** Pairs from JSONL or TSV text; ids are made up (pair1, pair2, …) where a line gives none. */
export function parsePairsText(text: string, file: string): PairEntry[] {
  const out: PairEntry[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let p: { id?: unknown; query?: unknown; passage?: unknown };
    if (line.trimStart().startsWith('{')) {
      try {
        p = JSON.parse(line);
      } catch (e) {
        throw new UserError(`${where}: not valid JSON (${(e as Error).message}); each line must be {"id": ..., "query": ..., "passage": ...} or id<TAB>query<TAB>passage`);
      }
    } else {
      const f = line.split('\t');
      if (f.length < 2 || f.length > 3) throw new UserError(`${where}: ${f.length} tab-separated fields; expected query<TAB>passage or id<TAB>query<TAB>passage (or a JSON object)`);
      p = f.length === 3 ? { id: f[0], query: f[1], passage: f[2] } : { query: f[0], passage: f[1] };
    }
    if (typeof p.query !== 'string' || !p.query.trim()) throw new UserError(`${where}: no query; each pair needs a non-empty "query" and a "passage"`);
    if (typeof p.passage !== 'string') throw new UserError(`${where}: no passage; each pair needs a "passage" string`);
    const id = typeof p.id === 'string' || typeof p.id === 'number' ? String(p.id) : `pair${out.length + 1}`;
    if (seen.has(id)) throw new UserError(`${where}: duplicate id '${id}'; ids must be unique (they name the exported tensors)`);
    seen.add(id);
    out.push({ id, query: p.query, passage: p.passage });
  });
  if (!out.length) throw new UserError(`${file}: no pairs found; give one JSON object or one tab-separated pair per line`);
  return out;
}

/** A fresh id not yet in the list: pair1, pair2, … */
export function freshId(pairs: PairEntry[]): string {
  const ids = new Set(pairs.map((p) => p.id));
  let i = pairs.length + 1;
  while (ids.has(`pair${i}`)) i++;
  return `pair${i}`;
}

/** The list: one item per pair (id, the start of the query, and F(x) once attributed); `onSelect` gets the clicked index. */
export function renderPairList(list: HTMLElement, pairs: PairEntry[], current: number, onSelect: (i: number) => void): void {
  list.replaceChildren(...pairs.map((p, i) => {
    const li = document.createElement('li');
    li.dataset.index = String(i);
    li.className = i === current ? 'sel' : '';
    const q = p.query.length > 60 ? `${p.query.slice(0, 57)}…` : p.query;
    li.textContent = `${p.id}: ${q}${p.result ? ` · F(x) = ${fmt(p.result.F[p.result.steps])}` : ''}`;
    li.title = `${p.query}\n\n${p.passage}`;
    li.addEventListener('click', () => onSelect(i));
    return li;
  }));
}
