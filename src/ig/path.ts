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

/**
 * The rules a NIG run can ask for: the three conductance rules, and `richardson`, Romberg's first step on the
 * trapezoid, (4·T_m − T_{m/2})/3, from the same m + 1 points (T_{m/2} reads every other point). Order 4.
 */
export type NigRule = Rule | 'richardson';
export const NIG_RULES: NigRule[] = [...RULES, 'richardson'];

/** The conductance rule whose sums a NIG rule reads (richardson combines trapezoid sums). */
export function kernelRule(rule: NigRule): Rule {
  return rule === 'richardson' ? 'trapezoid' : rule;
}

/** Convergence order p of a rule (error ∝ m^−p, docs/rules.md): right/left 1, trapezoid 2, richardson 4. */
export function ruleOrder(rule: NigRule): number {
  return rule === 'richardson' ? 4 : rule === 'trapezoid' ? 2 : 1;
}

/**
 * How many coarser sums a run keeps beside the sum over all points, at strides 2 and 4: none for a plain run; two
 * (T_{m/2}, T_{m/4}) to estimate the error or for richardson (R_m needs T_{m/2}; the estimate compares the two
 * differences T_m − T_{m/2} and T_{m/2} − T_{m/4}, see `estimateError`). m must then be a multiple of 4.
 */
export function coarseLevels(rule: NigRule, estimate: boolean): number {
  return rule === 'richardson' || estimate ? 2 : 0;
}

/** The adaptive defaults: the first m tried, and the cap. */
export const ADAPTIVE_START = 4;
/** The range of `tol` (a relative error): (0, 1), exclusive. The CLI's option table and the engine read it. */
export const TOL_RANGE = { min: 0, exclusiveMin: true, exclusiveMax: 1, range: 'a relative error in (0, 1), e.g. 1e-3' } as const;
export const DEFAULT_MAX_STEPS = 256;

/** Checks that m suits the coarser sums (a multiple of 2^levels), for `--steps` and `--max-steps`. */
export function checkLevelSteps(m: number, levels: number, what = '--steps'): void {
  checkSteps(m);
  const q = 2 ** levels;
  if (m % q !== 0) {
    throw new UserError(`${what} ${m}: the error estimate and richardson read every 2nd and 4th point, so m must be a multiple of ${q}; use ${Math.max(q, q * Math.round(m / q))}`);
  }
}

/** The band of ρ (see `estimateError`) in which the trapezoid is taken to be in its asymptotic regime, ρ ≈ 4. */
export const ASYMPTOTIC_BAND: [number, number] = [3.5, 4.5];

/**
 * The estimated relative L2 error of a run's NIG vector, from its sums over all points and over every 2nd and 4th
 * point: `full` is the result (X_m: T_m, or R_m for richardson), `half` and `quarter` the rule's sums at m/2, m/4
 * (the trapezoid's for richardson). Relative to ‖X_m‖.
 *
 * A rule of order p has error ≈ c·h^p, so d = X_m − X_{m/2} ≈ (2^p − 1)·(X_m − NIG), and the ratio
 * ρ = ‖X_{m/2} − X_{m/4}‖ / ‖d‖ ≈ 2^p. The estimate is ‖d‖ / (ρ′ − 1) with ρ′ = ρ clamped to
 * [1 + (2^p − 1)/3, 2^p]: ‖d‖/(2^p − 1) in the asymptotic regime, larger (never smaller) when the observed
 * convergence is slower than the order says — where the expansion does not hold yet (a sharp model at small m),
 * the estimate errs on the safe side. Richardson, R = (4·T_m − T_{m/2})/3: when the trapezoid's ρ lies in
 * ASYMPTOTIC_BAND, ‖R_m − R_{m/2}‖/15 (order 4); otherwise the extrapolation is not trusted and the estimate is
 * the trapezoid's own (T_m is recovered as (3·R_m + T_{m/2})/4).
 */
export function estimateError(rule: NigRule, full: ArrayLike<number>, half: ArrayLike<number>, quarter: ArrayLike<number>): number {
  const n = full.length;
  const x = rule === 'richardson' ? Float64Array.from(full, (r, i) => (3 * r + half[i]) / 4) : Float64Array.from(full);
  let dd = 0, dc = 0, nf = 0;
  for (let i = 0; i < n; i++) { dd += (x[i] - half[i]) ** 2; dc += (half[i] - quarter[i]) ** 2; nf += full[i] ** 2; }
  if (dd === 0) return 0;
  if (nf === 0) return Infinity;
  const q = 2 ** ruleOrder(kernelRule(rule));
  const rho = Math.sqrt(dc / dd);
  if (rule === 'richardson' && rho >= ASYMPTOTIC_BAND[0] && rho <= ASYMPTOTIC_BAND[1]) {
    let e = 0;
    for (let i = 0; i < n; i++) e += (full[i] - (4 * half[i] - quarter[i]) / 3) ** 2;
    return Math.sqrt(e / nf) / 15;
  }
  return Math.sqrt(dd / nf) / (Math.min(Math.max(rho, 1 + (q - 1) / 3), q) - 1);
}

/**
 * The next m of an adaptive run after an estimate `est` at m, above `tol`: m doubled, and doubled again as long
 * as the rule's order says the estimate cannot pass yet (est · 2^(−p·j) > tol), at most `max`. The points of m
 * are every other point of 2m (α = k/m = 2k/2m).
 */
export function nextSteps(rule: NigRule, m: number, est: number, tol: number, max: number): number {
  const p = ruleOrder(rule);
  let next = 2 * m;
  while (2 * next <= max && Number.isFinite(est) && est * (m / next) ** p > tol) next *= 2;
  return Math.min(next, max);
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
