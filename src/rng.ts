/**
 * Seeded, counter-based random numbers. A stream is named by (seed, purpose, epoch, step…), so the noise
 * of any training step can be recreated from those numbers alone: resuming a run needs no generator state
 * beyond the step counter, and results do not depend on which backend or how many threads run.
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
