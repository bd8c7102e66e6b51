/**
 * Seeded, counter-based random numbers. A stream is named by (seed, purpose, epoch, step…), so the noise
 * of any training step can be recreated from those numbers alone: resuming a run needs no generator state
 * beyond the step counter, and results do not depend on which backend or how many threads run.
 *
 * The training noise ε of a run is Philox4x32-10 (philoxNormals): each of its numbers is a function of the step's
 * key and its own index, so the GPU draws it where it is used (engine/webgpu/noise.ts) with the same integer
 * arithmetic, and the CPU engine the same numbers here.
 */

/** Mixes 32-bit words into one (murmur3 finaliser steps). */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function hashKeys(keys: (number | string)[]): number[] {
  const words: number[] = [];
  for (const key of keys) {
    if (typeof key === 'number') {
      words.push(key | 0, Math.floor(key / 2 ** 32) | 0);
    } else {
      for (let i = 0; i < key.length; i++) words.push(key.charCodeAt(i));
      words.push(0x7fffffff);
    }
  }
  const state: number[] = [];
  for (let lane = 0; lane < 4; lane++) {
    let h = 0x9e3779b9 ^ Math.imul(lane + 1, 0x85ebca6b);
    for (const w of words) h = mix(h, w);
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
    state.push(h);
  }
  return state;
}

/** sfc32 generator (Chris Doty-Humphrey's Small Fast Counting RNG), 128 bits of state. */
export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  private spareNormal: number | null = null;

  constructor(...keys: (number | string)[]) {
    [this.a, this.b, this.c, this.d] = hashKeys(keys);
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal, Box–Muller (pairs, the second one kept for the next call). */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  normals(n: number): Float32Array {
    return this.fillNormals(new Float32Array(n));
  }

  fillNormals(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }
}

/**
 * How a run draws its training noise ε (config.json's train.normals): 'philox' since 2026-12-05 (philoxNormals,
 * drawn on the GPU by the WebGPU engine); a run made before records nothing and keeps its sfc32 streams
 * (Rng(seed, 'eps', epoch, step).normals), so that it resumes with the numbers it began with.
 */
export type NormalsKind = 'philox' | 'sfc32';

/** Philox4x32's multipliers and key increments (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"). */
export const PHILOX = { m0: 0xd2511f53, m1: 0xcd9e8d57, w0: 0x9e3779b9, w1: 0xbb67ae85, rounds: 10 };

/** The high 32 bits of a · b (unsigned), exactly: from 16-bit halves, as WGSL (which has no 64-bit integers) computes it. */
function mulHi(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lh = al * bh, hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32-10 of a 128-bit counter under a 64-bit key: four uniformly distributed 32-bit words (`rounds`: for tests). */
export function philox4x32(counter: ArrayLike<number>, key: ArrayLike<number>, out = new Uint32Array(4), rounds = PHILOX.rounds): Uint32Array {
  let c0 = counter[0] >>> 0, c1 = counter[1] >>> 0, c2 = counter[2] >>> 0, c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let round = 0; round < rounds; round++) {
    const hi0 = mulHi(PHILOX.m0, c0), lo0 = Math.imul(PHILOX.m0, c0) >>> 0;
    const hi1 = mulHi(PHILOX.m1, c2), lo1 = Math.imul(PHILOX.m1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + PHILOX.w0) >>> 0;
    k1 = (k1 + PHILOX.w1) >>> 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
  return out;
}

/** The Philox key of a stream named by `keys` (e.g. seed, 'eps', epoch, step): two words of their hash. */
export function philoxKey(...keys: (number | string)[]): [number, number] {
  const [a, b] = hashKeys(keys);
  return [a >>> 0, b >>> 0];
}

/** A word's top 23 bits as a uniform in (0, 1): (w >>> 9) + 1/2 over 2^23, exact in float32. */
const unit = (w: number) => ((w >>> 9) + 0.5) / 8388608;

/**
 * Normals first … first + out.length − 1 of the stream with this key, into out. Counter c = (c, 0, 0, 0) gives
 * normals 4c … 4c + 3, by Box–Muller on its words (0, 1) and (2, 3): r = √(−2 ln u), θ = 2π (v − 1/2), then r cos θ
 * and r sin θ (u, v: unit() of the words). The GPU's kernel is the same arithmetic in float32 (noise.ts).
 */
export function philoxNormals(key: [number, number], out: Float32Array, first = 0): Float32Array {
  const words = new Uint32Array(4);
  const counter = [0, 0, 0, 0];
  const values = new Float64Array(4);
  const end = first + out.length;
  for (let c = Math.floor(first / 4); 4 * c < end; c++) {
    counter[0] = c;
    philox4x32(counter, key, words);
    for (let pair = 0; pair < 4; pair += 2) {
      const r = Math.sqrt(-2 * Math.log(unit(words[pair])));
      const theta = 2 * Math.PI * (unit(words[pair + 1]) - 0.5);
      values[pair] = r * Math.cos(theta);
      values[pair + 1] = r * Math.sin(theta);
    }
    for (let j = 0; j < 4; j++) {
      const at = 4 * c + j - first;
      if (at >= 0 && at < out.length) out[at] = values[j];
    }
  }
  return out;
}

/**
 * The noise ε of training step `step` of `epoch`, into out: the run's kind of stream. Returns the Philox key
 * (an engine that draws the noise itself takes it instead: its slot's eps is then empty), or null for sfc32.
 */
export function trainingNormals(kind: NormalsKind, seed: number, epoch: number, step: number, out: Float32Array): [number, number] | null {
  if (kind === 'sfc32') {
    new Rng(seed, 'eps', epoch, step).fillNormals(out);
    return null;
  }
  const key = philoxKey(seed, 'eps', epoch, step);
  philoxNormals(key, out);
  return key;
}
