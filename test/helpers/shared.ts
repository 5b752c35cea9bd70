/**
 * Where the shared fixtures and data live (../shared beside the checkout), and the one rule for tests that
 * need them: they run when the folder is there, fail under CI=true when it is missing, and are skipped
 * with a printed note otherwise.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { parseSafetensors, toFloat } from '../../src/formats/safetensors.ts';
import { UserError } from '../../src/util/errors.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = resolve(REPO, '../shared');
export const FIXTURES = resolve(SHARED, 'fixtures');
export const TOKENIZER_JSON = resolve(FIXTURES, 'tokenizer/bert-base-uncased.tokenizer.json');
export const FIXTURE_MODELS = ['tiny-monobert', 'tiny-minilm'] as const;


/** Registers `fn` as a test that needs `path` (default: the fixtures). */
export function needsShared(suite: Test, name: string, fn: () => void | Promise<void>, path = FIXTURES): void {
  if (existsSync(path)) suite(name, fn);
  else if (process.env.CI === 'true') suite(name, () => assert.unreachable(`${path} is missing (CI=true): '${name}' needs the shared fixtures`));
  else {
    console.log(`note: ${path} not found; skipping '${name}' (it fails under CI=true)`);
    suite.skip(name, fn);
  }
}

/** The float64 reference tensors of a fixture model. */
export function fixtureRef(model: string): (name: string) => Float64Array {
  const file = resolve(FIXTURES, model, 'reference.safetensors');
  const st = parseSafetensors(readFileSync(file), file);
  return (name: string) => {
    const t = st.get(name);
    if (!t) throw new Error(`${file}: no tensor ${name}`);
    return toFloat(t, Float64Array);
  };
}

export function fixturePairs(model: string): { query: string; passage: string; tokens: number }[] {
  return JSON.parse(readFileSync(resolve(FIXTURES, model, 'reference.json'), 'utf8')).pairs;
}

/** Relative L2 error ‖a − b‖ / ‖b‖. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, 'lengths differ');
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / Math.max(d, 1e-300));
}

/** Asserts that `fn` throws a one-line UserError whose message matches `pattern`. */
export function throwsUserError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, UserError);
    assert.match((e as Error).message, pattern);
    assert.not.match((e as Error).message, /\n/, 'one-line message');
    return;
  }
  assert.unreachable(`expected a UserError matching ${pattern}`);
}
