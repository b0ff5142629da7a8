/**
 * Special functions for the nonparametric tests, written to agree with scipy 1.10 to well
 * under 1e-9 relative error. The Kolmogorov-Smirnov distributions follow the algorithm
 * choices of scipy.stats._ksstats (Simard & L'Ecuyer) branch by branch, because the
 * branches are approximations of different accuracy and matching scipy means choosing the
 * same one.
 *
 * Over 450 lines on purpose: one job (the distributions the tests need), and most of the
 * length is published coefficient tables and scipy's branches, which read best side by side.
 */

// ---------------------------------------------------------------------------------------
// Error function (W. J. Cody, "Rational Chebyshev approximations for the error function",
// Math. Comp. 23, 1969; coefficients from SPECFUN CALERF). Relative error ~1e-16 over the
// whole double range, including the far tail of erfc where cheap approximations fail.
// ---------------------------------------------------------------------------------------

const ERF_A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153];
const ERF_B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const ERF_C = [
  0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909,
  1712.04761263407058, 2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8,
];
const ERF_D = [
  15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963,
  4362.61909014324716, 3439.36767414372164, 1230.33935480374942,
];
const ERF_P = [
  0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
  6.58749161529837803e-4, 0.0163153871373020978,
];
const ERF_Q = [2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191, 0.00233520497626869185];
const SQRT_PI_INV = 0.56418958354775628695;
/** Beyond this erfc(x) underflows to zero. */
const ERFC_XBIG = 26.543;

/** erf(x) for |x| <= 0.46875, where the series form has no cancellation. */
function erfSmall(x: number): number {
  const y = Math.abs(x);
  const ysq = y > 1.11e-16 ? y * y : 0;
  let xnum = ERF_A[4] * ysq;
  let xden = ysq;
  for (let i = 0; i < 3; i++) {
    xnum = (xnum + ERF_A[i]) * ysq;
    xden = (xden + ERF_B[i]) * ysq;
  }
  return (x * (xnum + ERF_A[3])) / (xden + ERF_B[3]);
}

/** erfc(y) for y > 0.46875. */
function erfcPositive(y: number): number {
  let result: number;
  if (y <= 4) {
    let xnum = ERF_C[8] * y;
    let xden = y;
    for (let i = 0; i < 7; i++) {
      xnum = (xnum + ERF_C[i]) * y;
      xden = (xden + ERF_D[i]) * y;
    }
    result = (xnum + ERF_C[7]) / (xden + ERF_D[7]);
  } else {
    if (y >= ERFC_XBIG) return 0;
    const ysq = 1 / (y * y);
    let xnum = ERF_P[5] * ysq;
    let xden = ysq;
    for (let i = 0; i < 4; i++) {
      xnum = (xnum + ERF_P[i]) * ysq;
      xden = (xden + ERF_Q[i]) * ysq;
    }
    result = (ysq * (xnum + ERF_P[4])) / (xden + ERF_Q[4]);
    result = (SQRT_PI_INV - result) / y;
  }
  // exp(-y^2) split so that the rounding error of y*y is not amplified by exp: ysq has at
  // most a few significant bits, so ysq*ysq is exact and del is small.
  const ysq = Math.trunc(16 * y) / 16;
  const del = (y - ysq) * (y + ysq);
  return Math.exp(-ysq * ysq) * Math.exp(-del) * result;
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const y = Math.abs(x);
  if (y <= 0.46875) return erfSmall(x);
  const r = 1 - erfcPositive(y);
  return x < 0 ? -r : r;
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const y = Math.abs(x);
  if (y <= 0.46875) return 1 - erfSmall(x);
  const r = erfcPositive(y);
  return x < 0 ? 2 - r : r;
}

/** Standard normal CDF, structured like cephes ndtr (which scipy's norm uses). */
export function normCdf(a: number): number {
  if (Number.isNaN(a)) return NaN;
  const x = a * Math.SQRT1_2;
  const z = Math.abs(x);
  if (z < Math.SQRT1_2) return 0.5 + 0.5 * erf(x);
  const y = 0.5 * erfc(z);
  return x > 0 ? 1 - y : y;
}

/** Standard normal survival function, accurate in the far upper tail. */
export function normSf(z: number): number {
  return normCdf(-z);
}

/** Chi-square survival function with one degree of freedom: P(Z^2 > x) = erfc(sqrt(x/2)). */
export function chi2Sf1(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  return erfc(Math.sqrt(x / 2));
}

// ---------------------------------------------------------------------------------------
// Binomial
// ---------------------------------------------------------------------------------------

/** Binomial coefficient C(n, k) as a double (product form, ~k ulp of error). */
export function binomialCoefficient(n: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 0 || k > n) return 0;
  const kk = Math.min(k, n - k);
  let result = 1;
  for (let i = 1; i <= kk; i++) result = (result * (n - kk + i)) / i;
  return result;
}

/**
 * P(X <= k) for X ~ Binomial(n, 1/2), by summing the pmf. Every term C(n, i)/2^n is exact
 * in double precision for n <= 53 (an integer over a power of two), so for McNemar's small
 * counts the result is exact up to the final additions.
 */
export function binomCdfHalf(k: number, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw new RangeError(`binomCdfHalf: n must be an integer in [0, 1000], got ${n}`);
  if (k < 0) return 0;
  if (k >= n) return 1;
  let term = Math.pow(2, -n);
  let sum = term;
  for (let i = 0; i < Math.floor(k); i++) {
    term = (term * (n - i)) / (i + 1);
    sum += term;
  }
  return Math.min(1, sum);
}

// ---------------------------------------------------------------------------------------
// Kolmogorov-Smirnov distributions
// ---------------------------------------------------------------------------------------

const EP128 = 2 ** 128;
const EM128 = 2 ** -128;
const DBL_EPSILON = Number.EPSILON;
/** cephes MINLOG: log of the smallest normal double. */
const MINLOG = -708.396418532264106224;

// Double-double and scaled arithmetic for the Smirnov sum. Its terms raise bases like
// x + v/n to powers in the hundreds of thousands, which multiplies the relative error of
// the base by the exponent; carrying the base in double-double (as scipy's cephes code
// does) keeps each term accurate to a few ulp whatever n is.
//
// A Pair is [hi, lo] for a double-double, or [mantissa, exponent] for a scaled number
// mantissa * 2^exponent (mantissa in [0.5, 1)) whose range is not limited by the double
// exponent. Results are written into caller-owned Float64Arrays: the hot loop runs ~n
// times and allocating small objects there was both slow and prone to deoptimization.

type Pair = Float64Array;
const pair = (): Pair => new Float64Array(2);

/** out = a + b exactly (Knuth's TwoSum). */
function twoSum(a: number, b: number, out: Pair): void {
  const s = a + b;
  const bb = s - a;
  out[0] = s;
  out[1] = a - (s - bb) + (b - bb);
}

/** out = a * b exactly (Dekker's product with Veltkamp splitting). */
function twoProduct(a: number, b: number, out: Pair): void {
  const hi = a * b;
  const split = 134217729; // 2^27 + 1
  const ca = split * a;
  const ahi = ca - (ca - a);
  const alo = a - ahi;
  const cb = split * b;
  const bhi = cb - (cb - b);
  const blo = b - bhi;
  out[0] = hi;
  out[1] = ahi * bhi - hi + ahi * blo + alo * bhi + alo * blo;
}

function quickTwoSum(a: number, b: number, out: Pair): void {
  const s = a + b;
  out[0] = s;
  out[1] = b - (s - a);
}

const scratch = pair();

/** out = a / b as a double-double. */
function ddQuotient(a: number, b: number, out: Pair): void {
  const q = a / b;
  twoProduct(q, b, scratch);
  quickTwoSum(q, (a - scratch[0] - scratch[1]) / b, out);
}

/** x += y for a double-double x. */
function ddAddInPlace(x: Pair, y: number): void {
  const lo = x[1];
  twoSum(x[0], y, scratch);
  quickTwoSum(scratch[0], scratch[1] + lo, x);
}

/** x *= y for a double-double x. */
function ddMulInPlace(x: Pair, y: number): void {
  const lo = x[1];
  twoProduct(x[0], y, scratch);
  quickTwoSum(scratch[0], scratch[1] + lo * y, x);
}

/** x /= y for a double-double x. */
function ddDivInPlace(x: Pair, y: number): void {
  const hi = x[0];
  const lo = x[1];
  const q = hi / y;
  twoProduct(q, y, scratch);
  quickTwoSum(q, (hi - scratch[0] - scratch[1] + lo) / y, x);
}

const frexpView = new DataView(new ArrayBuffer(8));

/** out = [man, exp] with x = man * 2^exp and man in [0.5, 1), for finite x > 0 (from the IEEE-754 bits). */
function frexp(x: number, out: Pair): void {
  frexpView.setFloat64(0, x);
  const high = frexpView.getUint32(0);
  const biased = (high >>> 20) & 0x7ff;
  if (biased === 0) {
    // subnormal: scale into the normal range first
    frexp(x * 2 ** 64, out);
    out[1] -= 64;
    return;
  }
  frexpView.setUint32(0, (high & 0x800fffff) | (1022 << 20));
  out[0] = frexpView.getFloat64(0);
  out[1] = biased - 1022;
}

/** a *= b for scaled numbers. */
function scaledMulInPlace(a: Pair, b: Pair): void {
  const exp = a[1] + b[1];
  frexp(a[0] * b[0], a);
  a[1] += exp;
}

function scaledToNumber(man: number, exp: number): number {
  if (exp < -1080) return 0;
  if (exp < -1000) return man * Math.pow(2, exp + 200) * Math.pow(2, -200);
  return man * Math.pow(2, exp);
}

const powBase = pair();
const powSquare = pair();

/**
 * out = (hi + lo)^m as a scaled number, for a positive double-double base and integer
 * m >= 0. Math.pow is within an ulp for any exponent; the power is split as
 * f^m = (f^chunk)^q * f^rem with f^chunk >= 2^-960, the q-th power by repeated squaring
 * (error about q ulp, and q = m/chunk is small), and the low word enters as (1 + lo/hi)^m.
 */
function powScaled(hi: number, lo: number, m: number, out: Pair): void {
  if (m === 0) {
    out[0] = 0.5;
    out[1] = 1;
    return;
  }
  if (!(hi > 0)) throw new RangeError(`powScaled: base must be positive, got ${hi}`);
  frexp(hi, powBase);
  const f = powBase[0];
  const e = powBase[1];
  const r = (lo * Math.pow(2, -e)) / f;
  const chunk = Math.max(1, Math.floor(960 / -Math.log2(f)));
  const q = Math.floor(m / chunk);
  frexp(Math.pow(f, m - q * chunk), out);
  frexp(Math.pow(f, chunk), powSquare);
  for (let k = q; k > 0; k = Math.floor(k / 2)) {
    if (k % 2 === 1) scaledMulInPlace(out, powSquare);
    if (k > 1) scaledMulInPlace(powSquare, powSquare);
  }
  const exp = out[1] + e * m;
  frexp(out[0] * Math.exp(m * Math.log1p(r)), out);
  out[1] += exp;
}

/** floor(n*x) and the fractional part, computed from the exact product. */
function modNX(n: number, x: number): { nxFloor: number; alpha: number } {
  const product = pair();
  twoProduct(n, x, product);
  let nxFloor = Math.floor(product[0]);
  let alpha = product[0] - nxFloor + product[1]; // hi - floor(hi) is exact
  if (alpha < 0) {
    nxFloor -= 1;
    alpha += 1;
  }
  if (alpha >= 1) {
    nxFloor += 1;
    alpha = 0;
  }
  return { nxFloor, alpha };
}

/** (hi + lo)^m as a double. */
function powDD(base: Pair, m: number): number {
  const out = pair();
  powScaled(base[0], base[1], m, out);
  return scaledToNumber(out[0], out[1]);
}

/**
 * One-sided Kolmogorov-Smirnov survival function P(D_n^+ >= x): scipy.special.smirnov.
 * Birnbaum-Tingey sum of positive terms (no cancellation), with scipy's special cases.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1) || !Number.isInteger(n)) return NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const { nxFloor, alpha } = modNX(n, x);
  let lastV = n - nxFloor - (alpha === 0 ? 0 : 1);
  if (alpha === 0) lastV -= 1;
  const onePlusX = pair();
  const oneMinusX = pair();
  twoSum(1, x, onePlusX);
  twoSum(1, -x, oneMinusX);
  if (nxFloor === 0 || (nxFloor === 1 && alpha === 0)) {
    // x <= 1/n: cdf = x (1+x)^(n-1)
    return 1 - x * powDD(onePlusX, n - 1);
  }
  if (-2 * n * x * x < MINLOG) return 0;
  if (nxFloor >= n - 1) return powDD(oneMinusX, n);
  if (n > 1_000_000) {
    // scipy switches to this approximation because the sum is too slow.
    const logp = -Math.pow(6 * n * x + 1, 2) / 18 / n;
    return logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp);
  }
  // sum over v of A_v = C(n, v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v); A_0 = (1-x)^n / x.
  const t1 = pair();
  const t2 = pair();
  powScaled(oneMinusX[0], oneMinusX[1], n, t2);
  frexp(t2[0] / x, t1);
  let term = scaledToNumber(t1[0], t1[1] + t2[1]);
  // Neumaier-compensated sum of the positive terms.
  let sum = term;
  let compensation = 0;
  const binom = pair(); // C(n, v) = binom * 2^binomExp, binom a double-double in [0.5, 1)
  binom[0] = 0.5;
  let binomExp = 1;
  const up = pair();
  const down = pair();
  const vmid = Math.floor(n / 2);
  for (let v = 1; v <= lastV; v++) {
    ddMulInPlace(binom, n - v + 1);
    ddDivInPlace(binom, v);
    frexp(binom[0], t1);
    const scale = Math.pow(2, -t1[1]);
    binom[0] *= scale;
    binom[1] *= scale;
    binomExp += t1[1];
    ddQuotient(v, n, up);
    ddAddInPlace(up, x); // x + v/n
    ddQuotient(n - v, n, down);
    ddAddInPlace(down, -x); // 1 - x - v/n
    powScaled(up[0], up[1], v - 1, t1);
    powScaled(down[0], down[1], n - v, t2);
    term = scaledToNumber(t1[0] * t2[0] * binom[0], t1[1] + t2[1] + binomExp);
    const s = sum + term;
    compensation += Math.abs(sum) >= Math.abs(term) ? sum - s + term : term - s + sum;
    sum = s;
    if (term === 0 && v > vmid) break;
    if (term !== 0 && 4 * (lastV + 1 - v) * term < DBL_EPSILON * sum && v !== lastV) break;
  }
  const sf = x * (sum + compensation);
  return Math.min(1, Math.max(0, sf));
}

/** Limiting Kolmogorov distribution (scipy.stats.kstwobign) survival function. */
export function kolmogorovSf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (x <= Math.PI / Math.sqrt(746 * 8)) return 1;
  if (x <= 0.82) {
    const w = Math.sqrt(2 * Math.PI) / x;
    const logu8 = (-Math.PI * Math.PI) / (x * x);
    const u = Math.exp(logu8 / 8);
    let cdf: number;
    if (u === 0) {
      cdf = Math.exp(logu8 / 8 + Math.log(w));
    } else {
      const u8 = Math.exp(logu8);
      const u8cub = Math.pow(u8, 3);
      let p = 1;
      p = 1 + u8cub * p;
      p = 1 + u8 * u8 * p;
      p = 1 + u8 * p;
      cdf = w * u * p;
    }
    return Math.min(1, Math.max(0, 1 - cdf));
  }
  const v = Math.exp(-2 * x * x);
  const vsq = v * v;
  const v3 = Math.pow(v, 3);
  let p = 1;
  p = 1 - v3 * v3 * v * p;
  p = 1 - v3 * vsq * p;
  p = 1 - v3 * p;
  return Math.min(1, Math.max(0, 2 * v * p));
}

/** Coefficients B_2j/(2j(2j-1)), j = 8..1, of Stirling's series for log Gamma. */
const STIRLING_COEFFS = [
  -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
  -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2,
];

/** log(n! / n^n) without forming either factor. */
function logNFactorialOverNPowN(n: number): number {
  const rn = 1 / n;
  let poly = 0;
  const t = rn / n;
  for (const c of STIRLING_COEFFS) poly = poly * t + c;
  return Math.log(n) / 2 - n + Math.log(2 * Math.PI) / 2 + rn * poly;
}

/** Square matrix product of m x m row-major arrays. */
function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k];
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j] += aik * b[k * m + j];
    }
  }
  return out;
}

/**
 * Kolmogorov CDF P(D_n <= d) by Durbin's matrix method as arranged by Marsaglia, Tsang and
 * Wang. scipy keeps the scaled powers in long double; here every intermediate stays near 1
 * through explicit power-of-two rescaling, which loses no precision.
 */
function kolmogornDurbinCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - Math.pow(h, j)) * fac;
  }
  const tt = Math.pow(Math.max(2 * h - 1, 0), m) - 2 * Math.pow(h, m);
  v[m - 1] = (1 + tt) * fac;
  let H: Float64Array = new Float64Array(m * m);
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - i + 1];
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r];
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c];

  let power: Float64Array | null = null; // H^(bits so far), scaled by 2^-powerExp
  let powerExp = 0;
  let hExp = 0;
  let nn = n;
  const kk = (k - 1) * m + (k - 1);
  while (nn > 0) {
    if (nn % 2 === 1) {
      power = power === null ? H.slice() : matmul(power, H, m);
      powerExp += hExp;
      while (Math.abs(power[kk]) > EP128) {
        for (let i = 0; i < power.length; i++) power[i] /= EP128;
        powerExp += 128;
      }
    }
    nn = Math.floor(nn / 2);
    if (nn === 0) break;
    H = matmul(H, H, m);
    hExp *= 2;
    while (Math.abs(H[kk]) > EP128) {
      for (let i = 0; i < H.length; i++) H[i] /= EP128;
      hExp += 128;
    }
  }
  let p = power === null ? 1 : power[kk];
  let expnt = powerExp;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= EP128;
      expnt -= 128;
    }
  }
  p = p * Math.pow(2, expnt);
  return Math.min(1, Math.max(0, p));
}

function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Kolmogorov CDF P(D_n <= x) by Pomeranz's recursion (scipy's _kolmogn_Pomeranz). */
function kolmogornPomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  // (g/n)^m/m!, (2g/n)^m/m!, ((1-2g)/n)^m/m!: Poisson probabilities without normalization.
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1] * gOverN) / m;
    twogpower[m] = (twogpower[m - 1] * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1] * oneMinusTwoGOverN) / m;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let expnt = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 === 1 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      const start = k1 - V0s;
      if (start < 0) throw new Error("kolmogornPomeranzCdf: negative window start");
      const aLen = Math.max(0, Math.min(npwrs, start + ln2) - start);
      const bLen = Math.min(npwrs, ln2);
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      // Only entries convStart .. convStart+convLen-1 of the full convolution are used.
      for (let c = 0; c < convLen && c < npwrs; c++) {
        const idx = convStart + c;
        let s = 0;
        const lo = Math.max(0, idx - bLen + 1);
        const hi = Math.min(aLen - 1, idx);
        for (let a = lo; a <= hi; a++) s += V0[start + a] * pwrs[idx - a];
        V1[c] = s;
      }
      let maxV = -Infinity;
      for (let c = 0; c < npwrs; c++) if (V1[c] > maxV) maxV = V1[c];
      if (maxV > 0 && maxV < EM128) {
        for (let c = 0; c < npwrs; c++) V1[c] *= EP128;
        expnt -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s];
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > EP128) {
      ans *= EM128;
      expnt += 128;
    }
    ans *= m;
  }
  ans = ans * Math.pow(2, expnt);
  return Math.min(1, Math.max(0, ans));
}

/** Pelz-Good asymptotic series for P(D_n <= x), used for large n and small x. */
function kolmogornPelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const PI2 = Math.PI ** 2;
  const PI4 = Math.PI ** 4;
  const PI6 = Math.PI ** 6;
  const z = Math.sqrt(n) * x;
  const zsquared = z ** 2;
  const zthree = z ** 3;
  const zfour = z ** 4;
  const zsix = z ** 6;
  const qlog = -PI2 / 8 / zsquared;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -zsquared;
  const k1b = PI2 / 4;
  const k2a = 6 * zsix + 2 * zfour;
  const k2b = ((2 * zfour - 5 * zsquared) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * zsquared)) / 16;
  const k3d = (PI6 * (5 - 30 * zsquared)) / 64;
  const k3c = (PI4 * (-60 * zsquared + 212 * zfour)) / 16;
  const k3b = (PI2 * (135 * zfour - 96 * zsix)) / 4;
  const k3a = -30 * zsix - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m ** 2;
    const m4 = m ** 4;
    const m6 = m ** 6;
    const qpower = Math.pow(q, 8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i] * qpower + coeffs[i];
  }
  const SQRT2PI = Math.sqrt(2 * Math.PI);
  const denoms = [z, 6 * zfour, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i] * q * SQRT2PI) / denoms[i];
  q = Math.exp(-PI2 / 2 / zsquared);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const ksq = k * k;
    const qp = Math.pow(q, ksq);
    const kspi = Math.PI * k;
    k2extra += ksq * qp;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
  }
  K[2] += (k2extra * PI2 * SQRT2PI) / (-36 * zthree);
  K[3] += (k3extra * PI2 * SQRT2PI) / (216 * zsix);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i] / Math.pow(n, i / 2);
  return sum;
}

const clip01 = (p: number): number => Math.min(1, Math.max(0, p));

/**
 * Survival function P(D_n > x) of the two-sided one-sample Kolmogorov-Smirnov statistic:
 * scipy.stats.kstwo.sf(x, n), with the same algorithm selection (_ksstats._kolmogn).
 */
export function kstwoSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n <= 0 || Number.isNaN(x)) return NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: 1/2n <= x <= 1/n
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= i * (1 / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logNFactorialOverNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - cdf);
  }
  if (t >= n - 1) return clip01(2 * Math.pow(1 - x, n));
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));
  const nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) return clip01(1 - kolmogornDurbinCdf(n, x));
    if (nxsquared <= 4) return clip01(1 - kolmogornPomeranzCdf(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxsquared >= 370) return 0;
  if (nxsquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100000 && n * x ** 1.5 <= 1.4 ? kolmogornDurbinCdf(n, x) : kolmogornPelzGoodCdf(n, x);
  return clip01(1 - cdf);
}
