/** The definition of a convolution with TensorFlow's 'same' padding, as plain loops, for the tests of conv.ts. */

/** y = conv2d(x, W, s, 'same') + b written as loops, [n, oh, ow, out], and the gradients of Σ y ⊙ g. */
export function convReference(x: Float32Array, xs: number[], w: Float32Array, k: number, out: number, b: Float32Array, s: number, g: Float32Array) {
  const [n, h, wd, c] = xs;
  const oh = Math.ceil(h / s);
  const ow = Math.ceil(wd / s);
  const padTotal = (size: number, o: number) => Math.max((o - 1) * s + k - size, 0);
  const pt = Math.floor(padTotal(h, oh) / 2);
  const pl = Math.floor(padTotal(wd, ow) / 2);
  const y = new Float32Array(n * oh * ow * out);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(w.length);
  const db = new Float32Array(out);
  const xi = (a: number, p: number, q: number, ch: number) => ((a * h + p) * wd + q) * c + ch;
  const wi = (i: number, j: number, ch: number, o: number) => ((i * k + j) * c + ch) * out + o;
  for (let a = 0; a < n; a++) {
    for (let p = 0; p < oh; p++) {
      for (let q = 0; q < ow; q++) {
        for (let o = 0; o < out; o++) {
          const yi = ((a * oh + p) * ow + q) * out + o;
          let sum = b[o];
          db[o] += g[yi];
          for (let i = 0; i < k; i++) {
            for (let j = 0; j < k; j++) {
              const r = p * s + i - pt;
              const col = q * s + j - pl;
              if (r < 0 || r >= h || col < 0 || col >= wd) continue;
              for (let ch = 0; ch < c; ch++) {
                sum += x[xi(a, r, col, ch)] * w[wi(i, j, ch, o)];
                dw[wi(i, j, ch, o)] += x[xi(a, r, col, ch)] * g[yi];
                dx[xi(a, r, col, ch)] += w[wi(i, j, ch, o)] * g[yi];
              }
            }
          }
          y[yi] = sum;
        }
      }
    }
  }
  return { y, dx, dw, db };
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tolerance);
}

