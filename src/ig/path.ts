/**
 * The integration path, kept apart from batching and from the attributed quantity (as Captum separates
 * them). NIG uses the m+1 points α_k = k/m, k = 0..m, and a rule saying which gradient multiplies each
 * step y(α_k) − y(α_{k−1}): right (the fixtures' rule), left (Captum's LayerConductance), or trapezoid.
 */
import { UserError } from '../util/errors.ts';

export type Rule = 'right' | 'left' | 'trapezoid';
/**
 * The default rule: trapezoid, the measured winner (bench/rules.ts, docs/rules.md: 4 points for 1% relative error
 * against 46–52 for right/left; second order against first). 'right' is the fixtures' and the paper's rule.
 */
export const DEFAULT_RULE: Rule = 'trapezoid';
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

/**
 * Plain IG on the word embeddings, IG = (x − x') · Σ_k w_k ∇F(α_k), with Captum's rules: Riemann left, right,
 * middle and trapezoid on n intervals, or n-point Gauss-Legendre on [0, 1]. (NIG needs differences of each
 * unit between consecutive points, so it uses the uniform grid and `Rule`; this path serves IG alone.)
 */
export type IgRule = 'riemann-left' | 'riemann-right' | 'riemann-middle' | 'riemann-trapezoid' | 'gauss-legendre';
export const IG_RULES: IgRule[] = ['riemann-left', 'riemann-right', 'riemann-middle', 'riemann-trapezoid', 'gauss-legendre'];

export function igPath(rule: IgRule, n: number): { alphas: Float64Array; weights: Float64Array } {
  checkSteps(n);
  switch (rule) {
    case 'riemann-left': return { alphas: Float64Array.from({ length: n }, (_, k) => k / n), weights: new Float64Array(n).fill(1 / n) };
    case 'riemann-right': return { alphas: Float64Array.from({ length: n }, (_, k) => (k + 1) / n), weights: new Float64Array(n).fill(1 / n) };
    case 'riemann-middle': return { alphas: Float64Array.from({ length: n }, (_, k) => (k + 0.5) / n), weights: new Float64Array(n).fill(1 / n) };
    case 'riemann-trapezoid': {
      const w = new Float64Array(n + 1).fill(1 / n);
      w[0] = w[n] = 0.5 / n;
      return { alphas: Float64Array.from({ length: n + 1 }, (_, k) => k / n), weights: w };
    }
    case 'gauss-legendre': return gaussLegendre(n);
    default: throw new UserError(`unknown IG rule '${rule}'; use ${IG_RULES.join(', ')}`);
  }
}

/** n-point Gauss-Legendre nodes and weights on [0, 1] (Newton on P_n from Chebyshev guesses; exact to ~1e-15). */
export function gaussLegendre(n: number): { alphas: Float64Array; weights: Float64Array } {
  const alphas = new Float64Array(n), weights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1, p1 = x;
      for (let k = 2; k <= n; k++) { const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k; p0 = p1; p1 = p2; }
      const pn = n === 1 ? x : p1, pm = n === 1 ? 1 : p0;
      dp = (n * (x * pn - pm)) / (x * x - 1);
      const dx = pn / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    // node on [-1, 1] -> [0, 1]; weight 2 / ((1 − x²) P'(x)²) halved
    alphas[n - 1 - i] = (x + 1) / 2;
    weights[n - 1 - i] = 1 / ((1 - x * x) * dp * dp);
  }
  return { alphas, weights };
}
