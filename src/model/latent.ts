/**
 * Looking at the latent space: the 2-D manifold grid of Kingma & Welling (2013, Fig. 4), principal
 * directions of the codes, and attribute vectors (mean code with an attribute − mean code without it).
 */

/**
 * Φ⁻¹(p), the inverse of the standard normal CDF, by Acklam's rational approximation (relative error < 1.2e-9),
 * for p in (0, 1).
 */
export function inverseNormalCdf(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`inverseNormalCdf needs 0 < p < 1, got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -inverseNormalCdf(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Mean and covariance of n codes of dimension d (row-major). */
export function codeStatistics(codes: Float32Array, n: number, d: number): { mean: Float64Array; cov: Float64Array[] } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += codes[i * d + j] / n;
  const cov = Array.from({ length: d }, () => new Float64Array(d));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const a = codes[i * d + j] - mean[j];
      for (let k = j; k < d; k++) cov[j][k] += (a * (codes[i * d + k] - mean[k])) / n;
    }
  }
  for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) cov[j][k] = cov[k][j];
  return { mean, cov };
}

/** The `count` leading eigenvectors (unit length) and eigenvalues of a symmetric matrix: power iteration with deflation. */
export function principalDirections(cov: Float64Array[], count: number): { directions: Float64Array[]; variances: number[] } {
  const d = cov.length;
  const m = cov.map((row) => Float64Array.from(row));
  const directions: Float64Array[] = [];
  const variances: number[] = [];
  for (let c = 0; c < Math.min(count, d); c++) {
    let v = Float64Array.from({ length: d }, (_, j) => 1 + ((j * 7 + c * 3) % 5) / 10);
    let lambda = 0;
    for (let iter = 0; iter < 1000; iter++) {
      const w = new Float64Array(d);
      for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) w[j] += m[j][k] * v[k];
      const norm = Math.hypot(...w);
      if (norm === 0) break;
      const next = w.map((x) => x / norm);
      const change = Math.hypot(...next.map((x, j) => x - v[j]));
      v = next;
      lambda = norm;
      if (change < 1e-10) break;
    }
    // A fixed sign (largest component positive), so that pictures do not flip between runs.
    const largest = v.reduce((best, x, j) => (Math.abs(x) > Math.abs(v[best]) ? j : best), 0);
    if (v[largest] < 0) v = v.map((x) => -x);
    directions.push(v);
    variances.push(lambda);
    for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) m[j][k] -= lambda * v[j] * v[k];
  }
  return { directions, variances };
}

/** The two main principal directions of n codes, their variances, the codes' mean and their total variance. */
export function principalPlane(codes: Float32Array, n: number, d: number) {
  const { mean, cov } = codeStatistics(codes, n, d);
  const { directions, variances } = principalDirections(cov, 2);
  return { mean, directions, variances, totalVariance: cov.reduce((a, row, j) => a + row[j], 0) };
}

/** The manifold grid's coordinates: Φ⁻¹ of `size` evenly spaced probabilities, (i + ½)/size, top row first. */
export function gridQuantiles(size: number): number[] {
  return Array.from({ length: size }, (_, i) => inverseNormalCdf((i + 0.5) / size));
}

/**
 * size x size codes, row by row: z = Φ⁻¹(p_row)·scaleY·axisY + Φ⁻¹(p_col)·scaleX·axisX, other coordinates 0.
 * The vertical axis grows upwards, as in a plot.
 */
export function manifoldCodes(zDim: number, size: number, axisX: ArrayLike<number>, axisY: ArrayLike<number>,
  scaleX = 1, scaleY = 1): Float32Array {
  const q = gridQuantiles(size);
  const out = new Float32Array(size * size * zDim);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const base = (r * size + c) * zDim;
      const x = q[c] * scaleX;
      const y = q[size - 1 - r] * scaleY;
      for (let j = 0; j < zDim; j++) out[base + j] = x * axisX[j] + y * axisY[j];
    }
  }
  return out;
}

export function unitVector(d: number, index: number): Float64Array {
  const v = new Float64Array(d);
  v[index] = 1;
  return v;
}

/**
 * z_attr = mean code of the examples with label `add` − mean code of those with label `sub` (or, without
 * `sub`, of all those without `add`).
 */
export function attributeVector(codes: Float32Array, labels: ArrayLike<number>, d: number, add: number,
  sub?: number): Float64Array {
  const withAdd = new Float64Array(d);
  const other = new Float64Array(d);
  let nAdd = 0;
  let nOther = 0;
  for (let i = 0; i < labels.length; i++) {
    const isAdd = labels[i] === add;
    const isOther = sub === undefined ? !isAdd : labels[i] === sub;
    if (!isAdd && !isOther) continue;
    const target = isAdd ? withAdd : other;
    for (let j = 0; j < d; j++) target[j] += codes[i * d + j];
    if (isAdd) nAdd++; else nOther++;
  }
  if (nAdd === 0 || nOther === 0) throw new RangeError(`no examples ${nAdd === 0 ? 'with' : 'for the other side of'} the attribute`);
  return withAdd.map((v, j) => v / nAdd - other[j] / nOther);
}
