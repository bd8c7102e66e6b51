/**
 * A step's statistics on the GPU: the loss and the family's sums (Family.stats) of the batch, written into the
 * batch slot's row of STEP_STATS numbers, which the engine reads back.
 */
import { STEP_STATS } from '../../model/families/family';
import { Kernel, REDUCE, WORKGROUP_SUM, flatKernel, oneGroupKernel } from './wgsl';

/**
 * The step's statistics into stats[slot]: the loss (Σ rec + β Σ KL) / n, Σ rec, Σ KL; with `loss`, the loss is
 * Σ loss / n (an importance-weighted step's −log-mean-weight per example). Each row's KL stored at `kl`, or made
 * here by `row`, the WGSL of fn kl_row(r: u32) -> f32 (gaussian.ts's klRowFunction).
 */
export function statsKernel(o: { rec: number; kl: number | { row: string }; stats: number; loss?: number }): Kernel {
  return oneGroupKernel('stats', /* wgsl */ `  var r = 0.0;
  var k = 0.0;
  var b = 0.0;
  for (var i = l.x; i < step.n; i += ${REDUCE}u) {
    r += mem[${o.rec}u + i];
    k += ${typeof o.kl === 'number' ? `mem[${o.kl}u + i]` : 'kl_row(i)'};
    ${o.loss !== undefined ? `b += mem[${o.loss}u + i];` : ''}
  }
  let rec = workgroup_sum(r, l.x);
  let kl = workgroup_sum(k, l.x);
  let bound = workgroup_sum(b, l.x);
  if (l.x == 0u) {
    let at = ${o.stats}u + step.slot * ${STEP_STATS}u;
    mem[at] = ${o.loss !== undefined ? 'bound' : '(rec + step.beta * kl)'} * step.inv_norm;
    mem[at + 1u] = rec;
    mem[at + 2u] = kl;
  }`, WORKGROUP_SUM + (typeof o.kl === 'number' ? '' : o.kl.row));
}

/** values[r, j] *= weights[r] for the step.n rows of `width` values (one thread per value). */
export function rowScaleKernel(o: { values: number; weights: number; width: number }): string {
  return flatKernel(`step.n * ${o.width}u`, `mem[${o.values}u + idx] *= mem[${o.weights}u + idx / ${o.width}u];`);
}
