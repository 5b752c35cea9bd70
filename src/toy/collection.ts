/**
 * Writes a tiny IR collection for the planted-model test, deterministic from a seed, in standard formats:
 *   queries.tsv  `qid<TAB>query`
 *   corpus.tsv   `docid<TAB>text`
 *   qrels.txt    TREC qrels `qid 0 docid grade`, every candidate judged (grades 0, 1, 2)
 *   run.txt      TREC run `qid Q0 docid rank score shuffled`: each query's candidates in a seeded random order
 *
 *   node --import tsx tools/make-toy-collection.ts --out DIR [--seed 1] [--queries 12] [--docs-per-query 10] [--domain in|ood]
 *
 * Query i is topic i of TOY_TOPICS (src/toy/vocab.ts). Its candidates all have PASSAGE_WORDS words: grade 2
 * passages hold the topic's three evidence words, grade 1 passages one of them, grade 0 passages none (of any
 * topic); the rest are distractors drawn from the other whole words of the toy vocabulary, and the non-relevant
 * passages also repeat the query's ordinary words (hard negatives for term matching). Every other non-relevant
 * passage (the 1st, 3rd, ... grade-0 candidate of a query) also holds two non-relevance cues (NONREL_WORDS).
 * `domain: 'ood'` (out-of-domain): relevant passages hold two of the topic's evidence words (grade 2) or one
 * (grade 1), plus two out-of-domain evidence words (OOD_WORDS), so a model needs its OOD detectors there.
 * Distractors never include evidence, OOD or cue words. Every word is a whole vocabulary entry, so WordPiece
 * gives one token per word and no [UNK].
 */
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { makeDir, writeFileAtomic } from '../util/atomic.ts';
import { mulberry32 } from '../util/rng.ts';
import { NONREL_WORDS, OOD_WORDS, TOY_TOPICS, evidenceWords, toyWords } from './vocab.ts';

export interface ToyCollectionOptions {
  out: string;
  seed?: number;
  queries?: number;
  docsPerQuery?: number;
  /** 'in' (default) or 'ood': see the header */
  domain?: 'in' | 'ood';
}

/** What was written (the files are the source of truth; this saves a test from re-reading them). */
export interface ToyCollection {
  dir: string;
  queries: { qid: string; text: string }[];
  docs: { docid: string; qid: string; grade: number; text: string }[];
  files: { queries: string; corpus: string; qrels: string; run: string };
}

/** Words per passage (before the final '.'). */
export const PASSAGE_WORDS = 14;

/** Grade-2 and grade-1 passages per query; the rest are grade 0. */
function gradeCounts(n: number): [number, number] {
  const g2 = Math.max(1, Math.round(0.2 * n));
  const g1 = Math.min(n - g2, Math.round(0.2 * n));
  return [g2, g1];
}

function shuffle<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const pad2 = (i: number) => String(i).padStart(2, '0');

/** Builds the collection in memory and writes the four files into `opts.out` (created if needed). */
export function makeToyCollection(opts: ToyCollectionOptions): ToyCollection {
  if (!opts.out) throw new UserError('make-toy-collection: --out DIR is required');
  const seed = opts.seed ?? 1, nq = opts.queries ?? 12, nd = opts.docsPerQuery ?? 10;
  if (!Number.isInteger(seed)) throw new UserError(`make-toy-collection: seed must be an integer, found ${seed}`);
  if (!Number.isInteger(nq) || nq < 1 || nq > TOY_TOPICS.length) {
    throw new UserError(`make-toy-collection: queries must be an integer in [1, ${TOY_TOPICS.length}] (one per toy topic), found ${nq}`);
  }
  if (!Number.isInteger(nd) || nd < 2 || nd > 99) throw new UserError(`make-toy-collection: docsPerQuery must be an integer in [2, 99], found ${nd}`);
  const rand = mulberry32(seed);
  const domain = opts.domain ?? 'in';
  if (domain !== 'in' && domain !== 'ood') throw new UserError(`make-toy-collection: domain must be 'in' or 'ood', found '${domain}'`);
  const evidence = new Set(evidenceWords());
  const reserved = new Set([...evidence, ...OOD_WORDS, ...NONREL_WORDS]);
  const distractors = toyWords().filter((w) => !reserved.has(w));
  const pick = (from: readonly string[]) => from[Math.floor(rand() * from.length)];
  const [g2, g1] = gradeCounts(nd);

  const queries: ToyCollection['queries'] = [];
  const docs: ToyCollection['docs'] = [];
  const runLines: string[] = [];
  for (let q = 0; q < nq; q++) {
    const topic = TOY_TOPICS[q];
    const qid = `q${pad2(q + 1)}`;
    queries.push({ qid, text: topic.query });
    const ordinary = topic.query.split(' ').filter((w) => !evidence.has(w));
    const mine: ToyCollection['docs'] = [];
    for (let j = 0; j < nd; j++) {
      const grade = j < g2 ? 2 : j < g2 + g1 ? 1 : 0;
      const words: string[] = grade === 2 ? [...topic.evidence] : grade === 1 ? [pick(topic.evidence)] : [];
      if (domain === 'ood' && grade > 0) {
        if (grade === 2) words.splice(Math.floor(rand() * 3), 1); // two of the topic's evidence words
        const a = Math.floor(rand() * OOD_WORDS.length);
        words.push(OOD_WORDS[a], OOD_WORDS[(a + 1 + Math.floor(rand() * (OOD_WORDS.length - 1))) % OOD_WORDS.length]);
      }
      if (grade === 0) for (let k = 0; k < 2 && ordinary.length; k++) words.push(pick(ordinary)); // hard negatives
      if (grade === 0 && (j - g2 - g1) % 2 === 0) words.push(pick(NONREL_WORDS), pick(NONREL_WORDS)); // non-relevance cues
      while (words.length < PASSAGE_WORDS) words.push(pick(distractors));
      mine.push({ docid: `d${pad2(q + 1)}-${pad2(j + 1)}`, qid, grade, text: `${shuffle(words, rand).join(' ')} .` });
    }
    docs.push(...mine);
    shuffle([...mine], rand).forEach((d, r) => runLines.push(`${qid} Q0 ${d.docid} ${r + 1} ${nd - r} shuffled`));
  }

  makeDir(opts.out);
  const files = {
    queries: join(opts.out, 'queries.tsv'), corpus: join(opts.out, 'corpus.tsv'),
    qrels: join(opts.out, 'qrels.txt'), run: join(opts.out, 'run.txt'),
  };
  writeFileAtomic(files.queries, queries.map((q) => `${q.qid}\t${q.text}\n`).join(''));
  writeFileAtomic(files.corpus, docs.map((d) => `${d.docid}\t${d.text}\n`).join(''));
  writeFileAtomic(files.qrels, docs.map((d) => `${d.qid} 0 ${d.docid} ${d.grade}\n`).join(''));
  writeFileAtomic(files.run, runLines.map((l) => `${l}\n`).join(''));
  return { dir: opts.out, queries, docs, files };
}

/** The options of tools/make-toy-collection.ts from its command line. */
export function parseArgs(argv: string[]): ToyCollectionOptions {
  const o: ToyCollectionOptions = { out: '' };
  const ints: Record<string, 'seed' | 'queries' | 'docsPerQuery'> = { '--seed': 'seed', '--queries': 'queries', '--docs-per-query': 'docsPerQuery' };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i], val = argv[i + 1];
    if (val === undefined) throw new UserError(`make-toy-collection: ${flag} needs a value`);
    if (flag === '--out') o.out = val;
    else if (flag === '--domain') {
      if (val !== 'in' && val !== 'ood') throw new UserError(`make-toy-collection: --domain expects in or ood, found '${val}'`);
      o.domain = val;
    } else if (flag in ints) {
      if (!/^-?\d+$/.test(val)) throw new UserError(`make-toy-collection: ${flag} expects an integer, found '${val}'`);
      o[ints[flag]] = Number(val);
    } else {
      throw new UserError(`make-toy-collection: unknown option '${flag}'; options: --out --seed --queries --docs-per-query --domain`);
    }
  }
  return o;
}
