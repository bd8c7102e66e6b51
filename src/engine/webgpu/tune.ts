/**
 * A step's products timed on the GPU at hand in each of their forms (plan.ts's TileForm), the fastest kept, as
 * cuDNN's benchmark mode times its algorithms: prefetching the next tiles hides a product's load latency on one GPU
 * and keeps too many values alive on another (lavapipe: 1.3x slower), the planner's tile shape fills a GPU of 132
 * multiprocessors and not one of 2 cores (lavapipe: larger tiles, the MLP's step 1.2-1.4x faster), and which it is
 * cannot be known from here.
 * No choice changes a number: every form computes the same sums in the same order (the same bits, tested), so
 * `--seed` gives the same run whatever was picked, and a run resumes anywhere as before.
 *
 * Before the first step, the step's memory is saved; each kernel that has other forms is dispatched, in a pass of
 * its own, enough times to take ~1 ms, each form in turn, three rounds (the wall time from the submit to the work
 * done: the fastest of its rounds); then the memory is put back. On by default on a GPU, off on a software adapter
 * (lavapipe, SwiftShader: its pipelines take long to compile); VAE_GPU_TUNE=1 or 0 says otherwise (gpu.ts).
 * The picks are kept for later runs on the same GPU (gpu.kept: under Node in a file, tune-cache.ts; in a page in
 * IndexedDB, web/train/kept-forms.ts): a product timed once in the same forms takes its pick untimed, so a run times
 * only what is new to this GPU.
 */
import { Gpu, KeptForm, dawnAwait } from '../../gpu-device';
import { errorMessage } from '../../errors';
import { TILE_FORMS, TileForm } from './plan';
import { kernelPipeline } from './runtime';
import type { StepProgram } from './step';
import { Groups, stepUniform } from './wgsl';

/** Milliseconds a timed pass of dispatches should take at least (the submit and the wait are then a small part). */
const TARGET_MS = 1;
/** Dispatches of one kernel in a timed pass, at most. */
const MAX_REPEATS = 256;
/**
 * Tuning stops after this long (the first kernel it times is timed to the end): the kernels not reached keep the plain
 * form, and where picks are kept (gpu.kept) the next run goes on from there. gpu.info.tuneSeconds says otherwise.
 */
export const TUNE_SECONDS = 4;
/** Another form than the plain one is kept only this much faster: timing noise must not pick one at random. */
const MARGIN = 0.05;
const ROUNDS = 3;

/**
 * For each kernel of a step built in several forms (the plain one first), the forms whose text differs, by their
 * index: [0] where the kernel has no other form. The forms must lay out the same memory and the same kernels.
 */
export function distinctForms(steps: Pick<StepProgram, 'kernels' | 'size'>[]): number[][] {
  const [plain] = steps;
  for (const s of steps) {
    if (s.size !== plain.size || s.kernels.length !== plain.kernels.length || s.kernels.some((k, i) => k.name !== plain.kernels[i].name)) {
      throw new Error('the forms of a step differ in more than their kernels\' text');
    }
  }
  return plain.kernels.map((_, i) => {
    const first = new Map<string, number>();
    steps.forEach((s, f) => { if (!first.has(s.kernels[i].source)) first.set(s.kernels[i].source, f); });
    return [...first.values()];
  });
}

/**
 * For each kernel, the form it runs in: each of its forms timed `rounds` times, in turns (each round starting with
 * the next form), and the fastest time of each compared; another form than the first (the plain one) is picked
 * only where it is `margin` faster. `time` says how long (any unit) the kernel took in a form, Infinity where that
 * form cannot run, or null when time is up: that kernel and the rest keep their first form.
 */
export async function fastestForms(forms: number[][], time: (kernel: number, form: number) => Promise<number | null>,
  rounds = ROUNDS, margin = MARGIN): Promise<number[]> {
  const picked = forms.map((f) => f[0]);
  for (let k = 0; k < forms.length; k++) {
    const fs = forms[k];
    if (fs.length < 2) continue;
    const best = fs.map(() => Infinity);
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < fs.length; j++) {
        const at = (j + r) % fs.length;
        const t = await time(k, fs[at]);
        if (t === null) return picked;
        best[at] = Math.min(best[at], t);
      }
    }
    const fastest = best.indexOf(Math.min(...best));
    if (fastest !== 0 && best[fastest] < (1 - margin) * best[0]) picked[k] = fs[fastest];
  }
  return picked;
}

/** How the forms are picked from the kernels' timings: fastestForms. */
export type PickForms = typeof fastestForms;

/** What a form is called in the engine's line. */
export const formName = (f: TileForm) => (f.vector ? `${f.prefetch ? 'prefetching ' : ''}${f.tiles ? `${f.tiles} ` : ''}vector blocks` : f.tiles ? `${f.tiles} tiles`
  : f.deep && f.prefetch ? 'deep and prefetching' : f.deep ? 'deep' : f.prefetch ? 'prefetching' : 'plain');

/** What tuneStep keeps of a product timed on this GPU: each form's text and workgroups for these rows. */
export function keptFormsKey(steps: Pick<StepProgram, 'kernels'>[], forms: number[], k: number, rows: { n: number; nk: number }): string {
  return [`rows ${rows.n} ${rows.nk}`, ...forms.map((f) => {
    const kernel = steps[f].kernels[k];
    return `form ${f}, workgroups ${kernel.groups(rows.n, rows.nk).join('x')}\n${kernel.source}`;
  })].join('\n');
}

/**
 * Times the kernels of `steps[0]` (its program's pipelines: the plain form) that have other forms in `steps` (built
 * with TILE_FORMS, in that order) on this GPU for a step of n rows (nk decoder rows), and puts the fastest form of
 * each into steps[0].kernels and program.pipelines. The step's memory is as it was after. A product that an earlier
 * run timed on this GPU in the same forms (gpu.kept) takes the form picked then, untimed; those timed now are kept
 * for later runs (so that a run out of time leaves the rest to the next). Says what it picked, for the engine's line,
 * and each kernel's time in each form (µs a dispatch, the fastest round; * where kept), for VAE_GPU_PROFILE's report.
 * `pick` chooses from the timings (fastestForms; a test may choose otherwise).
 */
export async function tuneStep(gpu: Gpu, program: { mem: GPUBuffer; uniform: GPUBuffer; pipelines: GPUComputePipeline[]; bindGroup: GPUBindGroup;
  layout: GPUPipelineLayout }, steps: StepProgram[], rows: { n: number; nk: number }, pick: PickForms = fastestForms): Promise<{ line: string; table: string }> {
  const { device } = gpu;
  const forms = distinctForms(steps);
  const tunable = forms.flatMap((f, k) => (f.length > 1 ? [k] : []));
  if (tunable.length === 0) return { line: '', table: '' };
  const keys = new Map(tunable.map((k) => [k, keptFormsKey(steps, forms[k], k, rows)]));
  const before = new Map<number, KeptForm>();
  const found = gpu.kept ? await gpu.kept.load([...keys.values()]) : [];
  tunable.forEach((k, i) => {
    const e = found[i];
    if (e && forms[k].includes(e.form) && e.us.length === forms[k].length) before.set(k, e);
  });
  const pipelines = new Map<string, Promise<GPUComputePipeline | null>>();
  const pipelineOf = (k: number, f: number) => {
    if (f === 0) return Promise.resolve(program.pipelines[k]);
    const key = `${k} ${f}`;
    if (!pipelines.has(key)) {
      pipelines.set(key, device.createComputePipelineAsync(kernelPipeline(device, program.layout, steps[f].kernels[k])).catch(() => null));
    }
    return pipelines.get(key)!;
  };
  // The products to time now: those no earlier run kept (whose picked forms are compiled meanwhile).
  for (const [k, e] of before) void pipelineOf(k, e.form);
  const toTime = forms.map((f, k) => (before.has(k) ? [f[0]] : f));
  const { picked, stoppedAt, fastest } = toTime.some((f) => f.length > 1) ? await timeForms(gpu, program, steps, rows, toTime, pipelineOf, pick)
    : { picked: toTime.map(() => 0), stoppedAt: forms.length, fastest: new Map<string, number>() };
  const counts = new Map<string, number>();
  const rowsOfTable: string[] = [];
  const timedNow: [string, KeptForm][] = [];
  for (const k of tunable) {
    const kept = before.get(k);
    if (!kept && k >= stoppedAt) continue;
    let f = kept ? kept.form : picked[k];
    const pipeline = await dawnAwait(pipelineOf(k, f));
    if (!pipeline) f = 0; // (a kept form that does not compile now: the plain one)
    const us = kept ? kept.us : forms[k].map((g) => fastest.get(`${k} ${g}`) ?? null);
    if (!kept) timedNow.push([keys.get(k)!, { form: f, us }]);
    const name = formName(TILE_FORMS[f]);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const shown = (v: number | null) => (v === null ? 'cannot run' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
    const times = forms[k].map((g, i) => `${formName(TILE_FORMS[g])} ${shown(us[i])}${g === f ? '*' : ''}`);
    rowsOfTable.push(`  ${steps[0].kernels[k].name}: ${times.join(', ')}${kept ? ' (timed before)' : ''}`);
    if (f === 0) continue;
    program.pipelines[k] = pipeline!;
    steps[0].kernels[k] = { ...steps[f].kernels[k], name: `${steps[f].kernels[k].name} (${name})` }; // (the profile's rows say it)
  }
  let notKept = '';
  if (gpu.kept && timedNow.length > 0) {
    try {
      await gpu.kept.keep(timedNow);
    } catch (e) {
      notKept = `; the picks not kept (${errorMessage(e).split('\n')[0]})`;
    }
  }
  const which = [...counts].map(([name, count]) => `${count} ${name}`).join(', ');
  const reached = rowsOfTable.length;
  const all = tunable.length;
  const out = reached < all ? 'out of time: the rest plain' : '';
  const line = before.size === 0
    ? (reached === all ? `, ${all} products timed` : `, ${reached} of ${all} products timed (${out})`)
    : `, ${reached === all ? all : `${reached} of ${all}`} products tuned (${timedNow.length > 0 ? `${timedNow.length} timed now, ${before.size}`
      : reached === all ? 'all' : before.size} as timed before on this GPU${out ? `; ${out}` : ''})`;
  const table = ['products tuned on this GPU: µs a dispatch in each form, the fastest of its rounds (* the form kept)', ...rowsOfTable];
  return { line: `${line}${which ? `: ${which}` : ''}${notKept}`, table: table.join('\n') };
}

/**
 * The timing itself (tuneStep): the step's memory saved, each kernel with other forms in `forms` dispatched in
 * each of them (pipelineOf's pipelines), `pick` choosing, the memory put back. Says the forms picked, the kernel
 * being timed when time was up (forms.length if none), and the fastest µs a dispatch of each kernel's form timed.
 */
async function timeForms(gpu: Gpu, program: { mem: GPUBuffer; uniform: GPUBuffer; pipelines: GPUComputePipeline[]; bindGroup: GPUBindGroup },
  steps: StepProgram[], rows: { n: number; nk: number }, forms: number[][], pipelineOf: (k: number, f: number) => Promise<GPUComputePipeline | null>,
  pick: PickForms): Promise<{ picked: number[]; stoppedAt: number; fastest: Map<string, number> }> {
  const { device } = gpu;
  /** Milliseconds of `repeats` dispatches of a pipeline in one pass, from the submit to the work done. */
  const run = async (pipeline: GPUComputePipeline, groups: Groups, repeats: number) => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, program.bindGroup);
    pass.setPipeline(pipeline);
    for (let i = 0; i < repeats; i++) pass.dispatchWorkgroups(...groups);
    pass.end();
    const commands = encoder.finish();
    const t0 = performance.now();
    device.queue.submit([commands]);
    await dawnAwait(device.queue.onSubmittedWorkDone());
    return performance.now() - t0;
  };
  const start = performance.now();
  const repeats = new Map<number, number>();
  /** Per kernel and form, the fastest µs a dispatch it was timed at. */
  const fastest = new Map<string, number>();
  let stoppedAt = forms.length; // the kernel being timed when time was up
  let first = -1; // the first kernel timed: timed to the end whatever the time, so that each run keeps one more pick
  const time = async (k: number, f: number): Promise<number | null> => {
    if (first < 0) first = k;
    if (k !== first && performance.now() - start > 1000 * (gpu.info.tuneSeconds ?? TUNE_SECONDS)) {
      stoppedAt = Math.min(stoppedAt, k);
      return null;
    }
    const pipeline = await dawnAwait(pipelineOf(k, f));
    // The next kernel's forms asked for now: compiled while this one is timed, where the device compiles aside (each
    // kernel's when it comes, so that a device that compiles in the call spends the time limit in order).
    forms[k + 1]?.slice(1).forEach((g) => void pipelineOf(k + 1, g));
    if (!pipeline) return Infinity;
    const groups = steps[f].kernels[k].groups(rows.n, rows.nk);
    if (!repeats.has(k)) {
      // As many dispatches as take TARGET_MS (found on the first form timed, after a dispatch that warms it up).
      await run(pipeline, groups, 1);
      let r = 1;
      while (r < MAX_REPEATS && (await run(pipeline, groups, r)) < TARGET_MS) r *= 2;
      repeats.set(k, r);
    }
    const ms = await run(pipeline, groups, repeats.get(k)!);
    fastest.set(`${k} ${f}`, Math.min(fastest.get(`${k} ${f}`) ?? Infinity, (1000 * ms) / repeats.get(k)!));
    return ms;
  };
  // The step's memory, saved: the kernels timed write into it (some add to what is there).
  device.pushErrorScope('out-of-memory');
  const saved = device.createBuffer({ size: program.mem.size, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  if (await dawnAwait(device.popErrorScope())) {
    saved.destroy();
    throw new Error('no memory to save the step\'s in');
  }
  const copy = (from: GPUBuffer, to: GPUBuffer) => {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(from, 0, to, 0, from.size);
    device.queue.submit([encoder.finish()]);
  };
  copy(program.mem, saved);
  device.queue.writeBuffer(program.uniform, 0, stepUniform({ n: rows.n, nk: rows.nk, beta: 1, stepSize: 0, invCorr2: 1, slot: 0, beta1: 0.9, beta2: 0.999 }));
  let picked: number[];
  device.pushErrorScope('validation');
  try {
    picked = await pick(forms, time);
  } finally {
    copy(saved, program.mem);
    await dawnAwait(device.queue.onSubmittedWorkDone());
    saved.destroy();
    const invalid = await dawnAwait(device.popErrorScope());
    if (invalid) throw new Error(invalid.message);
  }
  return { picked, stoppedAt, fastest };
}
