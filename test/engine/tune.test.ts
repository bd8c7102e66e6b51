/**
 * The tuner's choices (src/engine/webgpu/tune.ts), without a GPU: which kernels have other forms, and which form
 * is picked from their timings. That every form gives the same bits is tested on the GPU (webgpu.test.ts).
 */
import { distinctForms, fastestForms } from '../../src/engine/webgpu/tune';
import { TILE_FORMS, productPlan, withTileForm } from '../../src/engine/webgpu/plan';
import type { Kernel } from '../../src/engine/webgpu/wgsl';

const kernel = (name: string, source: string): Kernel => ({ name, source, groups: () => [1, 1] });
const step = (sources: string[], size = 100) => ({ size, kernels: sources.map((s, i) => kernel(`k${i}`, s)) });

test('distinctForms: per kernel, the forms whose text differs, the plain one first; forms of another layout are refused', () => {
  const forms = [step(['a', 'b', 'c']), step(['a', 'b2', 'c']), step(['a', 'b', 'c3']), step(['a', 'b2', 'c4'])];
  expect(distinctForms(forms)).toEqual([[0], [0, 1], [0, 2, 3]]);
  expect(() => distinctForms([step(['a', 'b']), step(['a', 'b'], 101)])).toThrow(/differ in more than/);
  expect(() => distinctForms([step(['a', 'b']), step(['a'])])).toThrow(/differ in more than/);
  expect(() => distinctForms([step(['a']), { size: 100, kernels: [kernel('other', 'a')] }])).toThrow(/differ in more than/);
});

test('fastestForms: each form timed in turns, the fastest of its rounds; another form than the plain one only when 5% faster', async () => {
  // Kernel 0: form 2 takes 80 (once 200: its first round), the plain one 100: form 2. Kernel 1: form 1 takes 97 of the
  // plain one's 100: within the margin, plain. Kernel 2: one form only, not timed. Kernel 3: form 3 cannot run.
  const times: Record<string, number[]> = { '0 0': [100, 101, 102], '0 2': [200, 80, 81], '1 0': [100, 100, 100], '1 1': [97, 97, 97],
    '3 0': [10, 10, 10], '3 3': [Infinity, Infinity, Infinity] };
  const calls: string[] = [];
  const picked = await fastestForms([[0, 2], [0, 1], [0], [0, 3]], async (k, f) => {
    const key = `${k} ${f}`;
    calls.push(key);
    return times[key][calls.filter((c) => c === key).length - 1];
  });
  expect(picked).toEqual([2, 0, 0, 0]);
  // Three rounds each, each round starting with the next form; the kernel with one form never timed.
  expect(calls.slice(0, 6)).toEqual(['0 0', '0 2', '0 2', '0 0', '0 0', '0 2']);
  expect(calls.filter((c) => c.startsWith('2 '))).toEqual([]);
  expect(calls).toHaveLength(18);
});

test('fastestForms: out of time (null), the kernel being timed and the rest keep the plain form', async () => {
  let calls = 0;
  const picked = await fastestForms([[0, 1], [0, 1], [0, 1]], async (_k, f) => (++calls > 8 ? null : f === 1 ? 1 : 10));
  expect(picked).toEqual([1, 0, 0]);
  expect(calls).toBe(9);
});

test('the forms of a product keep its planned split (each output\'s sum over the same chunks of K): only the tiles differ', () => {
  let reshaped = 0;
  for (const sumOverRows of [false, true]) {
    for (const M of [5, 128, 1024, 12544, 50176]) {
      for (const N of [1, 3, 20, 40, 400, 784]) {
        for (const K of [20, 400, 784, 4096, 100352]) {
          const plain = productPlan(M, N, K, sumOverRows);
          for (const form of TILE_FORMS) {
            const p = withTileForm(form, () => productPlan(M, N, K, sumOverRows));
            expect(p.splits).toBe(plain.splits);
            if (!form.tiles) expect(p).toEqual(plain);
            else if (p.tm !== plain.tm || p.tn !== plain.tn) reshaped++;
          }
        }
      }
    }
  }
  expect(reshaped).toBeGreaterThan(100);
});
