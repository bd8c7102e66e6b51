/**
 * The terms of the VAE objective (Kingma & Welling 2013), each per example, in nats.
 * Loss per example = −E_q[log p(x|z)] + β · KL(q(z|x) || N(0, I)), estimated with one z ~ q(z|x).
 */
import * as tf from '@tensorflow/tfjs';
import { nativeBernoulliNll, nativeBernoulliNllGrad } from '../native-kernels';

/** dy [batch] as a column [batch, 1], to scale per-pixel or per-unit gradients of a per-example sum. */
function column(dy: tf.Tensor): tf.Tensor2D {
  return tf.reshape(dy, [-1, 1]);
}

/**
 * −log p(x|z) for a Bernoulli decoder with logits l = logit p(x=1|z), summed over pixels:
 *   −Σ_i [x_i log σ(l_i) + (1 − x_i) log(1 − σ(l_i))] = Σ_i [max(l_i, 0) − l_i x_i + log(1 + exp(−|l_i|))]
 * The right-hand form never takes the log of 0 or the exp of a large number. x may be grey levels in [0, 1].
 * Gradient in closed form (one op instead of autodiff through the six above): ∂/∂l_i = σ(l_i) − x_i,
 * ∂/∂x_i = −l_i. On the wasm backend with the native addon, value and ∂/∂l are one native kernel each.
 */
const bernoulliNllOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [logits, x, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([logits, x]);
  const value = nativeBernoulliNll(logits, x)
    ?? tf.sum(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, x)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))), 1);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [l, xs] = saved;
      const scale = column(dy);
      const dl = nativeBernoulliNllGrad(l, xs, dy) ?? tf.mul(tf.sub(tf.sigmoid(l), xs), scale);
      return [dl, tf.mul(l, tf.neg(scale))];
    },
  };
});

export function bernoulliNllFromLogits(logits: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor1D {
  return bernoulliNllOp(logits, x) as tf.Tensor1D;
}

/**
 * KL(N(μ, diag σ²) || N(0, I)) in closed form (Kingma & Welling 2013, Appendix B):
 *   −½ Σ_j (1 + log σ²_j − μ²_j − σ²_j)
 * Gradient: ∂/∂μ_j = μ_j, ∂/∂log σ²_j = ½ (σ²_j − 1).
 */
const klOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [mu, logvar, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  const variance = tf.exp(logvar);
  save([mu, variance]);
  const terms = tf.sub(tf.sub(tf.add(1, logvar), tf.square(mu)), variance);
  return {
    value: tf.mul(-0.5, tf.sum(terms, 1)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [m, v] = saved;
      const scale = column(dy);
      return [tf.mul(m, scale), tf.mul(tf.mul(0.5, tf.sub(v, 1)), scale)];
    },
  };
});

export function klToStdNormal(mu: tf.Tensor2D, logvar: tf.Tensor2D): tf.Tensor1D {
  return klOp(mu, logvar) as tf.Tensor1D;
}

/** Reparameterization: z = μ + σ ⊙ ε with σ = exp(½ log σ²), so gradients reach μ and log σ² (ε ~ N(0, I)). */
export function reparameterize(mu: tf.Tensor2D, logvar: tf.Tensor2D, eps: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(mu, tf.mul(tf.exp(tf.mul(0.5, logvar)), eps)) as tf.Tensor2D);
}

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * −log N(x; μ, diag σ²) for a Gaussian decoder whose outputs [batch, 2D] hold μ (first D columns) and
 * log σ² (last D), summed over the D values: Σ_j ½ (log 2π + log σ²_j + (x_j − μ_j)² / σ²_j).
 */
export function gaussianNll(outputs: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const d = x.shape[1];
    const mu = tf.slice(outputs, [0, 0], [-1, d]);
    const logvar = tf.slice(outputs, [0, d], [-1, d]);
    const perValue = tf.add(tf.add(LOG_2PI, logvar), tf.div(tf.square(tf.sub(x, mu)), tf.exp(logvar)));
    return tf.mul(0.5, tf.sum(perValue, 1)) as tf.Tensor1D;
  });
}

/**
 * −log N(x; μ, σ² I) with a fixed σ, summed over the D values: Σ_j ½ (log 2π + log σ² + (x_j − μ_j)² / σ²),
 * i.e. the squared error weighted by 1 / (2σ²) plus a constant. Gradient: ∂/∂μ_j = (μ_j − x_j) / σ².
 */
export function gaussianNllFixed(mu: tf.Tensor2D, x: tf.Tensor2D, sigma: number): tf.Tensor1D {
  return tf.tidy(() => {
    const d = x.shape[1];
    const squared = tf.sum(tf.square(tf.sub(x, mu)), 1);
    return tf.add(tf.div(squared, 2 * sigma * sigma), 0.5 * d * (LOG_2PI + 2 * Math.log(sigma))) as tf.Tensor1D;
  });
}

/**
 * The fixed σ of a Gaussian p(x|z) (--likelihood gaussian without --sigma) on pixel values in [0, 1]; the mean is
 * sigmoid(decoder output).
 * Measured on a colour folder (360 shapes, 32x32, conv, 12 epochs; test mean squared error, the mean image:
 * 0.080): a variance per pixel learned by the decoder 0.088 (the variance absorbed the error, the code was
 * ignored); σ = 0.1 with a linear mean 0.056; σ = 0.1 with a sigmoid mean 0.019 (Bernoulli: 0.021).
 */
export const DEFAULT_SIGMA = 0.1;

/**
 * The sparse autoencoder's penalty (Ng, "Sparse autoencoder" lecture notes, §2.3) on codes in (0, 1) [batch, units]:
 *   Σ_j KL(ρ || ρ̂_j) = Σ_j [ρ log(ρ / ρ̂_j) + (1 − ρ) log((1 − ρ) / (1 − ρ̂_j))],  ρ̂_j = mean over the batch of unit j
 * ρ̂ is kept inside [1e-6, 1 − 1e-6] so that a dead or saturated unit gives a large, finite penalty.
 */
export function sparsityPenalty(code: tf.Tensor2D, target: number): tf.Scalar {
  return tf.tidy(() => {
    const mean = tf.clipByValue(tf.mean(code, 0), 1e-6, 1 - 1e-6);
    const kl = tf.add(tf.mul(target, tf.log(tf.div(target, mean))), tf.mul(1 - target, tf.log(tf.div(1 - target, tf.sub(1, mean)))));
    return tf.sum(kl) as tf.Scalar;
  });
}
