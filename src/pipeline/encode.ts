/** Encodes the pairs of a JSONL file; a pair that cannot be encoded (a query too long for the max length) is named with its file and id. */
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';
import type { EncodedPair } from '../model/types.ts';
import type { PairInput } from '../data/pairs-jsonl.ts';
import { UserError } from '../util/errors.ts';

export async function encodeNamedPairs(tok: PairTokenizer, pairs: readonly PairInput[], maxLength: number, file: string): Promise<EncodedPair[]> {
  try {
    return await tok.encodePairs(pairs.map((p) => [p.query, p.passage] as const), maxLength);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    // find the pair (the batch call does not say which one failed); only on this error path
    for (const p of pairs) {
      try {
        await tok.encodePair(p.query, p.passage, maxLength);
      } catch (f) {
        throw new UserError(`${file}: pair '${p.id}': ${(f as Error).message}`);
      }
    }
    throw new UserError(`${file}: ${e.message}`);
  }
}
