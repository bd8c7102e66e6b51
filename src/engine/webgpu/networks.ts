/**
 * The model as the GPU engine runs it: where each weight is in the flat parameters (model/flat.ts's layout, computed
 * once per engine), and its networks as stacks of layers (layers.ts): the encoder up to its code layers (μ, and
 * log σ² for a Gaussian code), the decoder (MLP or --arch conv, read off the networks' own layers), and any other
 * network of dense layers an objective trains (M2's classifier).
 */
import { FlatLayout, flatLayout } from '../../model/flat';
import type { Vae } from '../../model/vae';
import { Layer, StepPlan, convLayer, denseLayer } from './layers';
import { Arena, Rows } from './wgsl';

type FlatEntry = FlatLayout['entries'][number];

export interface GpuModel {
  readonly vae: Vae;
  readonly layout: FlatLayout;
  /** Parameters in all: the gradients are at +P, Adam's m at 2P and v at 3P. */
  readonly P: number;
  /** Values of an input (D), of a code (Z). */
  readonly D: number;
  readonly Z: number;
  /** p(x|z), as the loss kernels take it (likelihoods.ts). */
  readonly likelihood: { likelihood: 'bernoulli' | 'gaussian'; sigma?: number };
  /** The variables of one network (by its name in the model), in the flat layout, in order. */
  network(name: string): FlatEntry[];
}

/** The GPU's view of a model: every network's variables in the flat layout, in the order of vae.trainableVariables(). */
export function gpuModel(vae: Vae): GpuModel {
  const layout = flatLayout(vae.trainableVariables());
  const byNetwork = new Map<string, FlatEntry[]>();
  let at = 0;
  for (const [name, net] of Object.entries(vae.networks)) byNetwork.set(name, net.trainableWeights.map(() => layout.entries[at++]));
  if (at !== layout.entries.length) throw new Error('the webgpu engine trains the networks of the model only');
  const { likelihood, sigma, zDim } = vae.config;
  return { vae, layout, P: layout.size, D: vae.inputDim, Z: zDim, likelihood: { likelihood, sigma },
    network: (name) => byNetwork.get(name) ?? [] };
}

/** Where each weight of a network is in the flat parameters (a kernel, with its bias right after it), by layer name. */
function weightsOf(model: GpuModel, network: string): (name: string) => { off: number; shape: number[] } {
  const net = model.vae.networks[network];
  const entries = model.network(network);
  const entry = new Map(net.trainableWeights.map((w, i) => [w.originalName, entries[i]]));
  return (name) => {
    const kernel = entry.get(`${name}/kernel`);
    const bias = entry.get(`${name}/bias`);
    if (!kernel || !bias || bias.offset !== kernel.offset + kernel.size) throw new Error(`layer ${name} is not where the webgpu engine expects it`);
    return { off: kernel.offset, shape: kernel.shape };
  };
}

/** The code layers: μ (or an autoencoder's point code, through its activation), and log σ² for a Gaussian code. */
export interface CodeLayers {
  mu: Layer;
  logvar: Layer | null;
}

/**
 * The encoder's layers up to its code, the code layers, and the decoder's, in the order they run (model/conv.ts's
 * shapes for --arch conv, read off the kernels), and all of them; the decoder's have `decRows` rows.
 */
export function modelLayers(model: GpuModel, decRows: Rows, plan: StepPlan): { enc: Layer[]; code: CodeLayers; dec: Layer[]; all: Layer[] } {
  const { vae, P } = model;
  const enc = weightsOf(model, 'encoder');
  const dec = weightsOf(model, 'decoder');
  const { hidden, arch, inputShape } = vae.config;
  const dense = (w: typeof enc, name: string, relu: boolean, rows: Rows = 'n') => denseLayer(name, w(name), relu ? 'relu' : 'linear', P, plan, rows);
  const encoder: Layer[] = [];
  const decoder: Layer[] = [];
  if (arch === 'conv') {
    const [size, , channels] = inputShape;
    const has = (name: string) => vae.encoder.layers.some((l) => l.name === name);
    const downs = Array.from({ length: 4 }, (_, i) => `enc_conv_${i + 1}`).filter(has).map((name) => enc(name));
    const widths = downs.map((w) => w.shape[3]);
    const map = size / 2 ** widths.length;
    downs.forEach((w, i) => {
      const side = size / 2 ** i;
      encoder.push(convLayer(`encoder conv ${i + 1}`, { H: side, W: side, cin: i === 0 ? channels : widths[i - 1], cout: widths[i], k: w.shape[0],
        s: 2, up: false, off: w.off }, true, P, plan));
    });
    encoder.push(...hidden.map((_, i) => dense(enc, `enc_hidden_${i + 1}`, true)));
    decoder.push(...hidden.map((_, i) => dense(dec, `dec_hidden_${i + 1}`, true, decRows)), dense(dec, 'dec_project', true, decRows));
    const names = [...widths.slice(1).map((_, i) => `dec_conv_${i + 1}`), 'logits'];
    const outs = [...[...widths].reverse().slice(1), channels];
    names.forEach((name, j) => {
      const side = map * 2 ** (j + 1);
      decoder.push(convLayer(name === 'logits' ? 'logits' : `decoder conv ${j + 1}`, { H: side, W: side,
        cin: j === 0 ? widths[widths.length - 1] : outs[j - 1], cout: outs[j], k: dec(name).shape[0], s: 1, up: true, off: dec(name).off,
        rows: decRows }, name !== 'logits', P, plan));
    });
  } else {
    encoder.push(...hidden.map((_, i) => dense(enc, `enc_hidden_${i + 1}`, true)));
    decoder.push(...hidden.map((_, i) => dense(dec, `dec_hidden_${i + 1}`, true, decRows)), dense(dec, 'logits', false, decRows));
  }
  // An autoencoder's code is the 'mu' layer's output, a point: no log σ²; a sparse autoencoder's goes through a sigmoid.
  const codeActivation = (vae.encoder.getLayer('mu').getConfig() as { activation?: string }).activation;
  const mu = denseLayer('mu', enc('mu'), codeActivation === 'sigmoid' ? 'sigmoid' : 'linear', P, plan);
  const logvar = vae.encoder.layers.some((l) => l.name === 'logvar') ? dense(enc, 'logvar', false) : null;
  return { enc: encoder, code: { mu, logvar }, dec: decoder, all: [...encoder, mu, ...(logvar ? [logvar] : []), ...decoder] };
}

/** A network of dense layers (M2's classifier), each with its own activation (ReLU or none), on `rows` rows. */
export function denseNetwork(model: GpuModel, network: string, rows: Rows, plan: StepPlan): Layer[] {
  const w = weightsOf(model, network);
  return model.vae.networks[network].layers.filter((l) => l.getClassName() === 'Dense').map((l) => {
    const activation = (l.getConfig() as { activation?: string }).activation;
    return denseLayer(l.name, w(l.name), activation === 'relu' ? 'relu' : 'linear', model.P, plan, rows);
  });
}

/** The most scratch any of these layers' split products use (they run one after another: they share one). */
const scratchOfLayers = (layers: Layer[], forwardOnly: boolean) => Math.max(0, ...layers.map((l) => (forwardOnly ? l.forwardScratch : l.scratch)));

/**
 * The layers `make` makes (`all` of them) for these rows, their memory taken from `mem`: first each layer's own,
 * kept across the step (its phase weights, its filter gradient's partial sums: StepPlan's `own`), then the scratch that
 * their split products share (of their forward kernels alone where `forwardOnly`). The scratch's place is in the
 * layers' kernels and follows their own memory, so a first making, on an arena of its own, counts that.
 */
export function placeLayers<T extends { all: Layer[] }>(mem: Arena, rows: { rows: number; decRows: number }, make: (plan: StepPlan) => T,
  forwardOnly = false): T {
  const counted = new Arena();
  make({ ...rows, scratch: 0, own: counted });
  const plan = { ...rows, scratch: mem.size + counted.size, own: mem };
  const made = make(plan);
  if (mem.size !== plan.scratch) throw new Error('the layers took other memory the second time they were made');
  mem.take(scratchOfLayers(made.all, forwardOnly));
  return made;
}
