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

/** What the list needs of the page: the form's text, a way to show an entry, and where to draw itself. */
export interface PairListView {
  /** the form's id, query and passage */
  readForm(): { id: string; query: string; passage: string };
  /** puts the entry into the form and shows its tokens and, once attributed, its results */
  show(e: PairEntry): void;
  elements(): { list: HTMLElement; pos: HTMLElement; prev: HTMLButtonElement; next: HTMLButtonElement };
}

/** The pairs of the page and the one the form shows (`current`); the form's edits are kept in that entry. */
export class PairList {
  pairs: PairEntry[] = [];
  current = 0;
  constructor(private readonly view: PairListView) {}

  /** The form's id, query and passage, kept in the current entry (its result is dropped when the text changed). */
  sync(): PairEntry {
    if (!this.pairs.length) this.pairs.push({ id: '', query: '', passage: '' });
    const e = this.pairs[this.current];
    const f = this.view.readForm();
    if (e.result && (e.query !== f.query || e.passage !== f.passage)) { e.result = undefined; e.encoded = undefined; }
    Object.assign(e, { id: f.id || e.id || freshId(this.pairs), query: f.query, passage: f.passage });
    return e;
  }

  /** Shows pair i (after keeping the form's edits in the pair shown so far, unless `sync` is false). */
  select(i: number, sync = true): void {
    if (sync) this.sync();
    this.current = Math.max(0, Math.min(this.pairs.length - 1, i));
    this.view.show(this.pairs[this.current]);
    this.render();
  }

  /** Appends pairs (ids made unique) and shows the first of them. */
  add(entries: PairEntry[]): void {
    this.sync();
    const ids = new Set(this.pairs.map((p) => p.id));
    for (const e of entries) {
      if (ids.has(e.id)) e.id = freshId(this.pairs);
      ids.add(e.id);
      this.pairs.push(e);
    }
    this.select(this.pairs.length - entries.length, false);
  }

  /** Pairs from a file: they replace the form's single pair when it was never attributed, else are appended. */
  load(entries: PairEntry[]): void {
    if (this.pairs.length <= 1 && !this.pairs[0]?.result) {
      this.pairs = entries;
      this.select(0, false);
    } else {
      this.add(entries);
    }
  }

  /** Forgets every result (a new model was loaded). */
  clearResults(): void {
    for (const p of this.pairs) { p.result = undefined; p.encoded = undefined; }
  }

  /** The list (one item per pair: id, the start of the query, F(x) once attributed), the position and ◀ ▶. */
  render(): void {
    const { list, pos, prev, next } = this.view.elements();
    list.replaceChildren(...this.pairs.map((p, i) => {
      const li = document.createElement('li');
      li.dataset.index = String(i);
      li.className = i === this.current ? 'sel' : '';
      const q = p.query.length > 60 ? `${p.query.slice(0, 57)}…` : p.query;
      li.textContent = `${p.id}: ${q}${p.result ? ` · F(x) = ${fmt(p.result.F[p.result.steps])}` : ''}`;
      li.title = `${p.query}\n\n${p.passage}`;
      li.addEventListener('click', () => this.select(i));
      return li;
    }));
    pos.textContent = `pair ${this.current + 1} of ${this.pairs.length}`;
    prev.disabled = this.current === 0;
    next.disabled = this.current >= this.pairs.length - 1;
  }
}
