/**
 * A small digit classifier trained in the tests (an MLP, 784-256-10, Adam, a few epochs on the training
 * images): a judge of generated images that is independent of the model that made them.
 */
import * as tf from '@tensorflow/tfjs';

export interface Classifier {
  /** Predicted label of each row of x [n, dim]. */
  predict(x: Float32Array, n: number): Uint8Array;
  dispose(): void;
}

export async function trainClassifier(x: Float32Array, labels: ArrayLike<number>, n: number, dim: number, classes: number,
  options: { epochs?: number; seed?: number } = {}): Promise<Classifier> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [dim], units: 256, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: options.seed ?? 1 }) }),
      tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: (options.seed ?? 1) + 1 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const xs = tf.tensor2d(x.subarray(0, n * dim), [n, dim]);
  const ys = tf.oneHot(tf.tensor1d(Array.from(labels).slice(0, n), 'int32'), classes);
  await model.fit(xs, ys, { epochs: options.epochs ?? 3, batchSize: 128, shuffle: false, verbose: 0 });
  tf.dispose([xs, ys]);
  return {
    predict(images: Float32Array, count: number): Uint8Array {
      const p = tf.tidy(() => tf.argMax(model.predict(tf.tensor2d(images, [count, dim])) as tf.Tensor2D, 1));
      const out = Uint8Array.from(p.dataSync());
      p.dispose();
      return out;
    },
    dispose: () => model.dispose(),
  };
}
