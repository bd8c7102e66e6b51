/**
 * The step's noise ε drawn on the GPU: Philox4x32-10 of counter (c, 0, 0, 0) under the step's key (the uniform's
 * key0, key1) gives normals 4c … 4c + 3 by Box–Muller, the arithmetic of rng.ts's philoxNormals. The integer part
 * is exact, so the words are the CPU's to the bit; the normals are the CPU's double-precision ones up to float32's
 * log, sqrt, cos and sin (a few 1e-7 here; test/engine/webgpu.test.ts holds them to 1e-5). The host then sends a
 * step nothing but its key (and, for a gathered batch, its rows' indices).
 */
import { PHILOX } from '../../rng';
import { Dim, dim, flatGroups, flatKernel, rowCount } from './wgsl';
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
`;

/** ε [rows · Z] at `at` (rows: the step's n or nk), a thread per four normals. */
export function noiseKernel(o: { at: number; rows: Dim; Z: number }): Kernel {
  const count = `${dim(o.rows)} * ${o.Z}u`;
  return {
    name: 'noise ε (Philox)',
    source: flatKernel(`(${count} + 3u) / 4u`, /* wgsl */ `let w = philox(vec4u(idx, 0u, 0u, 0u), vec2u(step.key0, step.key1));
  let r0 = sqrt(-2.0 * log(unit(w.x)));
  let t0 = 6.283185307179586 * (unit(w.y) - 0.5);
  let r1 = sqrt(-2.0 * log(unit(w.z)));
  let t1 = 6.283185307179586 * (unit(w.w) - 0.5);
  let values = array<f32, 4>(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
  let count = ${count};
  for (var j = 0u; j < 4u; j++) {
    if (4u * idx + j < count) { mem[${o.at}u + 4u * idx + j] = values[j]; }
  }`, PHILOX_WGSL),
    groups: (n, nk) => flatGroups(Math.ceil((rowCount(o.rows, n, nk) * o.Z) / 4)),
  };
}
