/**
 * A fully connected layer y = xW + b whose gradient transposes explicitly.
 *
 * Autodiff of tf.matMul computes dx = dy·Wᵀ and dW = xᵀ·dy with matMul's transpose flags, and on the wasm
 * backend those flagged products run 12x slower than a plain product (measured: 128x784 by 784x400 takes
 * 2.2 ms plain, 27.6 ms with transposeA or transposeB). Transposing first and then multiplying is the same
 * maths, fast. The native products (native-kernels.ts) take the flags at full speed, so with them the
 * transposes are left out.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeProducts } from '../native-kernels';

/** dy·wᵀ */
function timesTransposed(dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return nativeProducts() ? tf.matMul(dy, w, false, true) : tf.matMul(dy, tf.transpose(w));
}

/** xᵀ·dy */
function transposedTimes(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  return nativeProducts() ? tf.matMul(x, dy, true, false) : tf.matMul(tf.transpose(x), dy);
}

/**
 * Σ over the rows of dy: a bias gradient. tf.sum over axis 0 transposes first on the wasm backend (0.35 ms for
 * 128x784); with the native products it is the product 1ᵀ·dy, which adds the rows in order.
 */
function columnSums(dy: tf.Tensor2D): tf.Tensor1D {
  const [rows, cols] = dy.shape;
  return nativeProducts() ? tf.reshape(tf.matMul(tf.ones([1, rows]), dy), [cols]) : tf.sum(dy, 0);
}

function denseOp(inputGrad: boolean) {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, kernel, bias, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    // What is saved is copied (tfjs clones it). A trained kernel is a variable, which lives on until the
    // backward pass unchanged: it is used as it is (on the default model: 0.17 ms of copies per 64 examples).
    const variableKernel = kernel instanceof tf.Variable;
    save(variableKernel ? [x] : [x, kernel]);
    return {
      value: tf.add(tf.matMul(x, kernel), bias) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const xs = saved[0] as tf.Tensor2D;
        const w = variableKernel ? kernel : saved[1] as tf.Tensor2D;
        // dx is a third of the layer's backward work; for a data input nobody needs it.
        const dx = inputGrad ? timesTransposed(dy, w) : tf.zerosLike(xs);
        return [dx, transposedTimes(xs, dy), columnSums(dy)];
      },
    };
  });
}

const withInputGrad = denseOp(true);
const withoutInputGrad = denseOp(false);

export function dense(x: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return withInputGrad(x, kernel, bias) as tf.Tensor2D;
}

/** The same layer for an input that is data (no gradient flows back into x: its gradient is reported as 0). */
export function denseOnData(x: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return withoutInputGrad(x, kernel, bias) as tf.Tensor2D;
}

/**
 * The layer on [z, c] (columns concatenated) where c is data, such as a decoder's condition: one product
 * forward, and backward the gradient of z only (dz = dy·W_zᵀ with W_z the kernel's first rows).
 */
const partlyOnData = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [z, c, kernel, bias, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const zc = tf.concat([z, c], 1);
  save([zc, kernel]);
  return {
    value: tf.add(tf.matMul(zc, kernel), bias) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [xs, w] = saved as [tf.Tensor2D, tf.Tensor2D];
      const k = z.shape[1];
      const dz = timesTransposed(dy, tf.slice(w, [0, 0], [k, w.shape[1]]));
      return [dz, tf.zeros(c.shape), transposedTimes(xs, dy), columnSums(dy)];
    },
  };
});

export function denseOnPartlyData(z: tf.Tensor2D, c: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return partlyOnData(z, c, kernel, bias) as tf.Tensor2D;
}

/**
 * The first layer of q(z|x, y) on [x, y] for every one-hot label y at once: row i · classes + k of the result
 * is [x_i, e_k]·W + b = x_i·W_x + W_y[k] + b, where W_x is the kernel's first rows (dim) and W_y its last
 * (classes). x·W_x is computed once per image instead of once per label, which is most of the layer's cost.
 * x is data: its gradient is reported as 0. Backward: dW_x = xᵀ·Σ_k dy_k, dW_y[k] = Σ_i dy_(i,k), db = Σ dy.
 */
const everyLabel = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, kernel, bias, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const [n, dim] = x.shape;
  const [rows, units] = kernel.shape;
  const classes = rows - dim;
  save([x]);
  const shared = tf.add(tf.matMul(x, tf.slice(kernel, [0, 0], [dim, units])), bias);
  const perLabel = tf.slice(kernel, [dim, 0], [classes, units]);
  return {
    value: tf.reshape(tf.add(tf.expandDims(shared, 1), tf.expandDims(perLabel, 0)), [n * classes, units]) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [xs] = saved as [tf.Tensor2D];
      const dy3 = tf.reshape(dy, [n, classes, units]);
      const dShared = tf.sum(dy3, 1);
      const dKernel = tf.concat([transposedTimes(xs, dShared as tf.Tensor2D), tf.sum(dy3, 0)], 0);
      return [tf.zerosLike(xs), dKernel, columnSums(dShared as tf.Tensor2D)];
    },
  };
});

export function denseWithEveryLabel(x: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor, classes: number): tf.Tensor2D {
  if (kernel.shape[0] !== x.shape[1] + classes) {
    throw new Error(`kernel has ${kernel.shape[0]} rows; the image and a one-hot label need ${x.shape[1] + classes}`);
  }
  return everyLabel(x, kernel, bias) as tf.Tensor2D;
}
