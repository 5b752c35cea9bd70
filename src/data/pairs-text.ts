/**
 * The one parser of (query, passage) pairs, for `ir-neurons score` and `attribute --pairs` (src/data/pairs-jsonl.ts
 * reads the file) and for the page's pairs file (src/browser/pairs.ts). Pure: no Node import, so the page bundles it.
 *
 * One JSON object per line, `{"id", "query", "passage"}` (other keys ignored); blank lines skipped; a UTF-8 byte
 * order mark dropped. `id` a non-empty string or a number, unique; `query` a non-empty string; `passage` a string.
 * Two options, which the page turns on and the CLI leaves off:
 *   tsv         a line that does not start with `{` is `id<TAB>query<TAB>passage` or `query<TAB>passage`
 *   optionalIds a pair without an id is named pair1, pair2, … (by its place in the file, skipping names given)
 * Bytes are decoded as strict UTF-8 on both sides (`parsePairsBytes`): a file that is not UTF-8 is refused naming
 * the line and the byte, never read with U+FFFD in place of its letters. Every error is one line naming file:line.
 */
import { UserError } from '../util/errors.ts';
import { decodeUtf8, stripBom } from './text.ts';

export interface PairInput {
  id: string;
  query: string;
  passage: string;
}

export interface PairTextOptions {
  /** tab-separated lines besides JSON ones (the page) */
  tsv?: boolean;
  /** pairs may lack an id (the page names them pair1, pair2, …) */
  optionalIds?: boolean;
}

/** The options the page parses its pairs files with. */
export const PAGE_PAIRS: PairTextOptions = { tsv: true, optionalIds: true };

/** Pairs from the text of a file named `file` (in errors). */
export function parsePairs(text: string, file: string, opts: PairTextOptions = {}): PairInput[] {
  const forms = opts.tsv ? '{"id": ..., "query": ..., "passage": ...} or id<TAB>query<TAB>passage' : '{"id": ..., "query": ..., "passage": ...}';
  const read: { id: string | null; query: string; passage: string }[] = [];
  const seen = new Set<string>();
  stripBom(text).split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let o: Record<string, unknown>;
    if (opts.tsv && !line.trimStart().startsWith('{')) {
      const f = line.split('\t');
      if (f.length < 2 || f.length > 3) throw new UserError(`${where}: ${f.length} tab-separated field${f.length === 1 ? '' : 's'}; expected query<TAB>passage or id<TAB>query<TAB>passage (or a JSON object)`);
      o = f.length === 3 ? { id: f[0], query: f[1], passage: f[2] } : { query: f[0], passage: f[1] };
    } else {
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new UserError(`${where}: not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')}); each line must be ${forms}`);
      }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UserError(`${where}: expected a JSON object with id, query and passage`);
    }
    const given = typeof o.id === 'number' ? String(o.id) : o.id;
    const absent = given === undefined || given === null || given === '';
    if (!(absent && opts.optionalIds) && (typeof given !== 'string' || !given)) throw new UserError(`${where}: missing "id" (a non-empty string or number)`);
    const id = absent ? null : (given as string);
    const named = id ?? `the pair on line ${i + 1}`;
    for (const k of ['query', 'passage'] as const) {
      if (typeof o[k] !== 'string') throw new UserError(`${where}: "${k}" must be a string (${id === null ? named : `pair ${id}`})`);
    }
    if (!(o.query as string).trim()) throw new UserError(`${where}: empty query (${id === null ? named : `pair ${id}`})`);
    if (id !== null) {
      if (seen.has(id)) throw new UserError(`${where}: duplicate id '${id}'; ids must be unique (they name the pairs' outputs)`);
      seen.add(id);
    }
    read.push({ id, query: o.query as string, passage: o.passage as string });
  });
  if (!read.length) throw new UserError(`${file}: no pairs found; expected one ${opts.tsv ? 'JSON object or tab-separated pair' : 'JSON object'} per line`);
  let n = 0;
  const fresh = () => {
    do n++; while (seen.has(`pair${n}`));
    return `pair${n}`;
  };
  return read.map((p) => ({ id: p.id ?? fresh(), query: p.query, passage: p.passage }));
}

/** Pairs from a file's bytes: strict UTF-8 (a BOM dropped), then `parsePairs`. */
export function parsePairsBytes(bytes: Uint8Array, file: string, opts: PairTextOptions = {}): PairInput[] {
  return parsePairs(decodeUtf8(bytes, file), file, opts);
}
