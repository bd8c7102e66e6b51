/**
 * The GPU check's probe of WGSL's subgroup matrices (bench/gpu-matrix.js): its f16 rounding against the definition
 * of the format, and the probe on this machine's adapter (lavapipe: bookworm's Mesa 25 has no subgroup matrices and
 * says so; where an adapter has them, every checked output must be exact).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const PROBE = path.join(__dirname, '..', 'bench', 'gpu-matrix.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { halfBits, halfValue, gemmKernel } = require(PROBE) as {
  halfBits: (x: number) => number;
  halfValue: (h: number) => number;
  gemmKernel: (unit: { m: number; n: number; k: number }, subgroupSize: number, form: { staged: boolean; per: number }) =>
    { code: string; tile: { BM: number; BN: number; BK: number; threads: number }; holds: string };
};

/** IEEE 754 binary16: sign, 5 exponent bits (bias 15), 10 fraction bits; exponent 0 subnormal. */
const binary16 = (h: number) => {
  const sign = h >> 15 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
  return sign * (exponent === 0 ? fraction / 1024 * 2 ** -14 : (1 + fraction / 1024) * 2 ** (exponent - 15));
};

test('gpu-matrix.js: f16 bits of every finite half, of values between two halves (nearest, ties to even), and back', () => {
  const wrong: string[] = [];
  const want = (what: string, got: number, expected: number) => got !== expected && wrong.push(`${what}: ${got}, not ${expected}`);
  for (let h = 0; h < 0x7c00; h++) {
    want(`bits of half ${h}`, halfBits(binary16(h)), h);
    want(`bits of -half ${h}`, halfBits(-binary16(h)), h | 0x8000);
    want(`value of half ${h}`, halfValue(h), binary16(h));
    if (h + 1 < 0x7c00) {
      const [low, high] = [binary16(h), binary16(h + 1)];
      want(`halfway past half ${h}`, halfBits(low + (high - low) / 2), h % 2 === 0 ? h : h + 1);
      want(`a quarter past half ${h}`, halfBits(low + (high - low) / 4), h);
      want(`three quarters past half ${h}`, halfBits(low + (3 * (high - low)) / 4), h + 1);
    }
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  expect(halfBits(1 + 2 ** -11)).toBe(0x3c00); // a tie: to the even 1
  expect(halfBits(2 ** -26)).toBe(0); // under half the smallest subnormal
  expect(halfBits(65504)).toBe(0x7bff);
});

test('gpu-matrix.js: a kernel\'s tiles are its subgroups\' matrices, staged from f32 or loaded from f16', () => {
  const staged = gemmKernel({ m: 16, n: 16, k: 16 }, 32, { staged: true, per: 4 });
  expect(staged.tile).toEqual({ BM: 128, BN: 128, BK: 32, threads: 128 });
  expect(staged.holds).toBe('f32');
  expect(staged.code.match(/subgroupMatrixMultiplyAccumulate/g)).toHaveLength(16);
  expect(staged.code).toContain('var<workgroup> ta: array<f16, 4096>');
  const direct = gemmKernel({ m: 8, n: 8, k: 8 }, 8, { staged: false, per: 2 });
  expect(direct.tile).toEqual({ BM: 32, BN: 32, BK: 8, threads: 32 });
  expect(direct.holds).toBe('f16');
  expect(direct.code).not.toContain('var<workgroup>');
});

test('gpu-matrix.js on this adapter: no subgroup matrices said in one line, or every checked output exact', () => {
  const r = spawnSync(process.execPath, [PROBE, '--quick', '--kernels', 'staged', '--sizes', ''], { encoding: 'utf8', timeout: 120000 });
  expect(r.status).toBe(0);
  const lines = r.stdout.trim().split('\n');
  const adapter = JSON.parse(lines[0]) as { subgroupMatrix: boolean; configs: { component: string; result: string }[] };
  if (!adapter.subgroupMatrix || !adapter.configs.some((c) => c.component === 'f16' && c.result === 'f32')) {
    expect(lines.slice(1)).toEqual(['gpu-matrix: no f16 -> f32 subgroup matrices on this adapter: nothing to time']);
    return;
  }
  const checks = lines.map((l) => (l.startsWith('{') ? JSON.parse(l) : {})).filter((l) => l.check);
  expect(checks).toHaveLength(1);
  expect(checks[0].exactValues.wrong).toBe(0);
  expect(checks[0].normalValues.againstF16Operands).toBeLessThan(1e-6);
});
