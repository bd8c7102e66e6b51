/** The optimizer on the GPU: Adam (engine/adam.ts, whose arithmetic it repeats in float32) over all parameters at once. */
import { Kernel, flatJobKernel } from './wgsl';

/** Adam over the P parameters: params at 0, gradients at P, m at 2P, v at 3P. */
export function adamKernel(P: number, epsilon: number): Kernel {
  return flatJobKernel('adam', `${P}u`, () => P, /* wgsl */ `let g = mem[${P}u + idx];
  let m = step.b1 * mem[${2 * P}u + idx] + step.a1 * g;
  let v = step.b2 * mem[${3 * P}u + idx] + step.a2 * g * g;
  mem[${2 * P}u + idx] = m;
  mem[${3 * P}u + idx] = v;
  mem[idx] = mem[idx] - step.step_size * m / (sqrt(v * step.inv_corr2) + ${epsilon.toExponential()});`);
}
