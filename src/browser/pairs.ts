/**
 * The page's list of pairs: entries (id, query, passage, and once computed the encoded pair and its NIG), read from
 * a file the user gives and drawn as a list to step through. The file is parsed by the CLI's parser
 * (src/data/pairs-text.ts) with the page's two options, `PAGE_PAIRS`: TSV lines `id<TAB>query<TAB>passage` /
 * `query<TAB>passage` besides JSONL `{"id", "query", "passage"}` ones, and ids optional (pair1, pair2, …); its bytes
 * are strict UTF-8, as in the CLI (`pairsFromFile`).
 */
import { PAGE_PAIRS, parsePairsBytes, type PairInput } from '../data/pairs-text.ts';
import type { NigResult } from '../ig/engine.ts';
import type { EncodedPair } from '../model/types.ts';
import { fmt } from './heatmap.ts';

export interface PairEntry extends PairInput {
  /** the encoded pair the result belongs to */
  encoded?: EncodedPair;
  result?: NigResult;
}

/** The pairs of a file the user gave (JSONL or TSV, ids optional, strict UTF-8): one-line errors name file:line. */
export function pairsFromFile(bytes: Uint8Array, name: string): PairEntry[] {
  return parsePairsBytes(bytes, name, PAGE_PAIRS);
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
