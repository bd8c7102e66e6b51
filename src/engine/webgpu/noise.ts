/**
 * The step's noise ε drawn on the GPU: Philox4x32-10 of counter (c, 0, 0, 0) under the step's key (the uniform's
 * key0, key1) gives normals 4c … 4c + 3 by Box–Muller, the arithmetic of rng.ts's philoxNormals. The integer part
 * is exact, so the words are the CPU's to the bit; the normals are the CPU's double-precision ones to float32's
 * rounding: the logarithm, cosine and sine are series of our own, not the GPU's (WGSL lets cos and sin be off by
 * 2^-11, and SwiftShader's are), so every adapter gives the same numbers to ~1e-7 (test/engine/webgpu.test.ts holds
 * them to 1e-6). The host then sends a step nothing but its key (and, for a gathered batch, its rows' indices).
 */
import { PHILOX } from '../../rng';
import { Dim, dim, flatJobKernel, rowCount } from './wgsl';
import type { Kernel } from './wgsl';

const hex = (v: number) => `0x${v.toString(16)}u`;

/** WGSL: philox(counter, key), and unit(word), the uniform in (0, 1) of rng.ts. */
const PHILOX_WGSL = /* wgsl */ `
fn mul_hi(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let lh = al * bh; let hl = ah * bl;
  let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}
fn philox(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var round = 0u; round < ${PHILOX.rounds}u; round++) {
    let hi0 = mul_hi(${hex(PHILOX.m0)}, c.x); let lo0 = ${hex(PHILOX.m0)} * c.x;
    let hi1 = mul_hi(${hex(PHILOX.m1)}, c.z); let lo1 = ${hex(PHILOX.m1)} * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2u(${hex(PHILOX.w0)}, ${hex(PHILOX.w1)});
  }
  return c;
}
fn unit(w: u32) -> f32 { return (f32(w >> 9u) + 0.5) / 8388608.0; }
// ln u for u in (0, 1), to ~1e-7 of itself whatever the GPU's log (WGSL promises 2^-21 absolute near 1, where
// √(−2 ln u) would magnify it): u = m · 2^e with m in [√½, √2), ln m = 2 atanh s, s = (m − 1) / (m + 1) (m − 1 exact),
// by the series to s^11 (|s| < 0.172).
fn ln_unit(u: f32) -> f32 {
  let parts = frexp(u);
  var m = parts.fract;
  var e = f32(parts.exp);
  if (m < 0.7071067811865476) { m = 2.0 * m; e = e - 1.0; }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  return s * (2.0 + s2 * (${2 / 3} + s2 * (0.4 + s2 * (${2 / 7} + s2 * (${2 / 9} + s2 * ${2 / 11}))))) + e * ${Math.LN2};
}
// (cos 2πv, sin 2πv) for v in [−½, ½], to ~1e-7 whatever the GPU's cos and sin (WGSL promises 2^-11): v = q/4 + f
// exactly (|f| ≤ 1/8), the series of x = 2πf in [−π/4, π/4] to x^10, then the quadrant q.
fn cos_sin_turn(v: f32) -> vec2f {
  let q = round(4.0 * v);
  let x = ${2 * Math.PI} * (v - 0.25 * q);
  let x2 = x * x;
  let s = x * (1.0 + x2 * (${-1 / 6} + x2 * (${1 / 120} + x2 * (${-1 / 5040} + x2 * ${1 / 362880}))));
  let c = 1.0 + x2 * (-0.5 + x2 * (${1 / 24} + x2 * (${-1 / 720} + x2 * (${1 / 40320} + x2 * ${-1 / 3628800}))));
  switch ((i32(q) + 4) % 4) {
    case 0: { return vec2f(c, s); }
    case 1: { return vec2f(-s, c); }
    case 2: { return vec2f(-c, -s); }
    default: { return vec2f(s, -c); }
  }
}
`;

/** ε [rows · Z] at `at` (rows: the step's n or nk), a thread per four normals. */
export function noiseKernel(o: { at: number; rows: Dim; Z: number }): Kernel {
  const count = `${dim(o.rows)} * ${o.Z}u`;
  return flatJobKernel('noise ε (Philox)', `(${count} + 3u) / 4u`, (n, nk) => Math.ceil((rowCount(o.rows, n, nk) * o.Z) / 4),
    /* wgsl */ `let w = philox(vec4u(idx, 0u, 0u, 0u), vec2u(step.key0, step.key1));
  let r0 = sqrt(-2.0 * ln_unit(unit(w.x)));
  let a0 = cos_sin_turn(unit(w.y) - 0.5);
  let r1 = sqrt(-2.0 * ln_unit(unit(w.z)));
  let a1 = cos_sin_turn(unit(w.w) - 0.5);
  var values = array<f32, 4>(r0 * a0.x, r0 * a0.y, r1 * a1.x, r1 * a1.y);
  let count = ${count};
  for (var j = 0u; j < 4u; j++) {
    if (4u * idx + j < count) { mem[${o.at}u + 4u * idx + j] = values[j]; }
  }`, PHILOX_WGSL);
}
