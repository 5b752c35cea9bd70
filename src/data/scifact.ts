/**
 * BEIR-SciFact from the CSV re-serialisation of the Hugging Face `allenai/scifact` dataset
 * (collections/scifact/scifact-hf-csv.zip: corpus_train.csv, claims_{train,validation,test}.csv).
 *
 * - corpus_train.csv `doc_id,title,abstract,structured`: the abstract is the repr of a numpy array of sentences
 *   (src/data/csv.ts). BEIR's document = title + text with text = the sentences joined by single spaces; we keep
 *   the sentences as they are (some end in `   \n`, as in the source) and give the passage BEIR's re-ranking
 *   input, `title + ' ' + text`.
 * - claims_<split>.csv `id,claim,...`: one row per (claim, evidence), so a claim id repeats; its text must not
 *   change. claims_validation.csv holds the 300 claims that are BEIR's SciFact test queries.
 * - qrels: BEIR's test qrels in TREC format (beir-qrels-topics/qrels.beir-v1.0.0-scifact.test.txt), read by
 *   src/data/trec.ts. They list relevant documents only (grade 1).
 * The zip's central directory is read with src/formats/torchbin.ts (`readZip`, `zipEntryBytes`).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { readZip, zipEntryBytes } from '../formats/torchbin.ts';
import type { Collection } from './collection.ts';
import { csvTable, parseCsv, parseNumpyStrArray } from './csv.ts';
import { parseQrels, readText } from './trec.ts';
import { decodeUtf8 } from './text.ts';

/** corpus_train.csv text -> docid -> passage (title + ' ' + sentences joined by spaces). */
export function parseSciFactCorpus(text: string, file: string): Map<string, string> {
  const docs = new Map<string, string>();
  const seenAt = new Map<string, number>();
  for (const r of csvTable(parseCsv(text, file), file, ['doc_id', 'title', 'abstract'])) {
    const id = r.get('doc_id').trim();
    if (!/^\d+$/.test(id)) throw new UserError(`${file}:${r.line}: doc_id '${id}' is not a number; use SciFact's corpus_train.csv`);
    const prev = seenAt.get(id);
    if (prev !== undefined) throw new UserError(`${file}:${r.line}: doc_id '${id}' already defined on line ${prev}; keep one row per document`);
    seenAt.set(id, r.line);
    const sentences = parseNumpyStrArray(r.get('abstract'), `${file}:${r.line}: abstract of document ${id}`);
    docs.set(id, `${r.get('title')} ${sentences.join(' ')}`.trim());
  }
  return docs;
}

/** claims_<split>.csv text -> claim id -> claim (one entry per id). */
export function parseSciFactClaims(text: string, file: string): Map<string, string> {
  const claims = new Map<string, string>();
  const firstAt = new Map<string, number>();
  for (const r of csvTable(parseCsv(text, file), file, ['id', 'claim'])) {
    const id = r.get('id').trim();
    const claim = r.get('claim').trim();
    if (!/^\d+$/.test(id) || claim === '') throw new UserError(`${file}:${r.line}: expected a numeric claim id and a claim text, found id '${id}'; use SciFact's claims CSV`);
    const prev = claims.get(id);
    if (prev !== undefined && prev !== claim) {
      throw new UserError(`${file}:${r.line}: claim ${id} has a different text than on line ${firstAt.get(id)}; one id, one claim`);
    }
    if (prev === undefined) { claims.set(id, claim); firstAt.set(id, r.line); }
  }
  return claims;
}

/** The text of the zip entry whose file name (any folder) is `base`. */
function zipText(buf: Uint8Array, file: string, base: string): { text: string; where: string } {
  let entries;
  try {
    entries = readZip(buf, file);
  } catch (e) {
    throw new UserError(`${file}: cannot read the zip archive (${(e as Error).message}); download the SciFact CSV zip again`);
  }
  const e = [...entries.values()].find((x) => x.name === base || x.name.endsWith(`/${base}`));
  if (!e) throw new UserError(`${file}: the zip has no ${base} (entries: ${[...entries.keys()].join(', ')}); use the SciFact CSV export`);
  const where = `${file}!${e.name}`;
  return { text: decodeUtf8(zipEntryBytes(buf, e, file), where), where };
}

export interface SciFactFiles {
  name?: string;
  /** scifact-hf-csv.zip */
  zip: string;
  /** BEIR test qrels (TREC format) */
  qrels: string;
  /** which claims file gives the queries; BEIR test = 'validation' */
  claims?: 'train' | 'validation' | 'test';
  relThreshold?: number;
}

/** Reads BEIR-SciFact (documents, claims of one split, qrels), without candidates. */
export function readSciFactZip(f: SciFactFiles): Collection {
  let buf: Uint8Array;
  try {
    buf = readFileSync(f.zip);
  } catch (e) {
    throw new UserError(`${f.zip}: cannot read the SciFact zip (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`);
  }
  const corpus = zipText(buf, f.zip, 'corpus_train.csv');
  const claims = zipText(buf, f.zip, `claims_${f.claims ?? 'validation'}.csv`);
  return {
    name: f.name ?? 'scifact',
    docs: parseSciFactCorpus(corpus.text, corpus.where),
    queries: parseSciFactClaims(claims.text, claims.where),
    qrels: parseQrels(readText(f.qrels, 'qrels'), f.qrels),
    relThreshold: f.relThreshold ?? 1,
    unlistedNonRelevant: true,
  };
}
