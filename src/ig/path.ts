/**
 * The integration path, kept apart from batching and from the attributed quantity (as Captum separates
 * them). NIG uses the m+1 points α_k = k/m, k = 0..m, and a rule saying which gradient multiplies each
 * step y(α_k) − y(α_{k−1}): right (the fixtures' rule), left (Captum's LayerConductance), or trapezoid.
 */
import { UserError } from '../errors.ts';

export type Rule = 'right' | 'left' | 'trapezoid';
export const RULES: Rule[] = ['right', 'left', 'trapezoid'];

export function alphas(m: number): Float64Array {
  checkSteps(m);
  return Float64Array.from({ length: m + 1 }, (_, k) => k / m);
}

/** Weights of g(α_k) and g(α_{k−1}) in a step. */
export function ruleWeights(rule: Rule): { wr: number; wl: number } {
  switch (rule) {
    case 'right': return { wr: 1, wl: 0 };
    case 'left': return { wr: 0, wl: 1 };
    case 'trapezoid': return { wr: 0.5, wl: 0.5 };
    default: throw new UserError(`unknown rule '${rule}'; use right, left or trapezoid`);
  }
}

export function checkSteps(m: number): void {
  if (!Number.isInteger(m) || m < 1 || m > 100000) throw new UserError(`--steps must be an integer in 1..100000, got ${m}`);
}

/** Splits the points 0..n−1 into consecutive chunks of at most `size` (the batching of the path). */
export function chunks(n: number, size: number): { k0: number; count: number }[] {
  if (!(size >= 1)) throw new Error(`chunk size ${size} must be at least 1`);
  const out: { k0: number; count: number }[] = [];
  for (let k0 = 0; k0 < n; k0 += size) out.push({ k0, count: Math.min(size, n - k0) });
  return out;
}
