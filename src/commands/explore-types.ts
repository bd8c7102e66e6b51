/**
 * What `vae explore` tells its page about the run (explore.json), beside the models. Shared by the command
 * (explore.ts) and the page (web/explore/app.ts), so it imports nothing.
 */
/** What the page needs to know about the run, beside the models (web/explore/app.ts reads it). */
export interface ExploreData {
  run: string;
  family: string;
  noun: string;
  arch: string;
  /** The images' shape (an M1+M2 run: M1's). */
  inputShape: [number, number, number];
  zDim: number;
  /** Whether the decoder's outputs are logits (Bernoulli, or a Gaussian's mean through a sigmoid) or a Gaussian's μ and log σ². */
  outputs: 'logits' | 'mean-and-logvar';
  prior: boolean;
  pointCode: boolean;
  classifies: boolean;
  labelNames: string[] | null;
  /** A cvae on the label: the decoder takes z and the one-hot label (and so does an MLP encoder). */
  label: boolean;
  /** A completion cvae: the decoder takes z and the observed pixels (indices), and gives the missing ones. */
  region: { observed: number[]; missing: number[] } | null;
  /** A test image (flat), for a completion model's observed part until the user draws one. */
  example: number[];
  /**
   * An M1+M2 run: M2 models the codes of a VAE (M1), on M1's dimensions `dims` of its `zDim`; images go through
   * M1's encoder (model/m1/encoder) on the way in and its decoder (model/m1/decoder) on the way out.
   */
  m1: { dims: number[]; zDim: number; outputs: 'logits' | 'mean-and-logvar' } | null;
  /** How a drawing is prepared (the run's `preprocess`). */
  preprocess: { lightOnDark: boolean; fit: 'digit' | 'photo' };
  /** Test codes [count, zDim] (rounded) and their labels. */
  codes: number[];
  labels: number[] | null;
  count: number;
  mean: number[];
  /** The two main principal directions of the codes (unit vectors) and the standard deviation along each. */
  directions: number[][];
  spread: number[];
  /** Each dimension's standard deviation over the codes, and the dimensions by decreasing spread. */
  std: number[];
  order: number[];
}

