/**
 * The convolutional encoder and decoder (--arch conv), for square images of 28, 32 or 64 pixels, grey or
 * colour, in the DCGAN-like shape most VAE code uses:
 *
 *   encoder: [4x4 convolution, stride 2, relu] x L   (28 → 14 → 7; 32 → 16 → 8; 64 → 32 → 16 → 8)
 *            → flatten → dense hidden layers → μ, log σ²
 *   decoder: z → dense hidden layers → dense to the smallest map (relu) → [2x nearest upsampling, 3x3
 *            convolution] x L, relu between, the last one giving the outputs per pixel
 *
 * The layers are standard tf.layers (conv2d, upSampling2d), so the checkpoint is the usual TensorFlow.js
 * layers format. Training runs its own forward pass over the same variables, with the convolution's
 * gradients written out (conv2dSame): the wasm backend has no kernel for the gradient of a filter
 * (Conv2DBackpropFilter), and its kernel for the gradient of the input is ~5x slower than a convolution
 * (measured: 52.7 ms against 9.6 ms for a 14x14x32 → 64 layer on 64 images). Both gradients are computed as
 * forward convolutions instead (tested against autodiff of tf.conv2d). Where the native addon is loaded, each
 * layer (upsampling, convolution, bias, relu) is one native kernel forward and one backward instead.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeConv2d, nativeConv2dGrad, nativeConvs } from '../native-kernels';

/** Channels of the encoder's convolutions, in order; the decoder mirrors them. */
const CONV_CHANNELS = [32, 64, 128];
const DOWN_KERNEL = 4;
const UP_KERNEL = 3;
export const CONV_SIZES = [28, 32, 64];

export interface ConvShape {
  /** Channels of each down-convolution. */
  channels: number[];
  /** Side of the smallest feature map. */
  map: number;
}

/** How many stride-2 convolutions an image of this side gets (down to a map of 7 or 8). */
export function convShape(size: number): ConvShape {
  if (!CONV_SIZES.includes(size)) {
    throw new Error(`--arch conv takes square images of ${CONV_SIZES.join(', ')} pixels, not ${size}`);
  }
  const downs = size === 64 ? 3 : 2;
  return { channels: CONV_CHANNELS.slice(0, downs), map: size / 2 ** downs };
}

export interface ConvParams {
  kernel: tf.Variable;
  bias: tf.Variable;
  stride: number;
  relu: boolean;
  /** 2x nearest-neighbour upsampling before the convolution (decoder). */
  upsample: boolean;
}

/** Padding of TensorFlow's 'same': out = ceil(in / stride), the extra row and column go after. */
function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * y = conv2d(x, W, stride, 'same') + b for x [n, h, w, c] and W [k, k, c, out], with both gradients written
 * as forward convolutions (tf.conv2d, fast on every backend):
 *   dW[i, j, c, o] = Σ_{n, p, q} x_pad[n, p·s + i, q·s + j, c] · dy[n, p, q, o]: a convolution of x_pad, with the
 *     batch as channels, by dy as the filter, dilated by the stride;
 *   dx: dy spread out to every stride-th place (zeros between), padded by k − 1 − pad, convolved with W
 *     turned by 180° and with its in and out channels swapped.
 * onData: x is data and gets no gradient (reported as 0).
 */
function convOp(inputGrad: boolean, stride: number) {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, kernel, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    save([x, kernel]);
    return {
      value: tf.add(tf.conv2d(x, kernel, stride, 'same'), bias) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xs, w] = saved as [tf.Tensor4D, tf.Tensor4D];
        const [, h, wd] = xs.shape;
        const k = w.shape[0];
        const [pt, pb] = samePadding(h, k, stride);
        const [pl, pr] = samePadding(wd, k, stride);
        const padded = tf.pad(xs, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
        const dW = tf.transpose(tf.conv2d(tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D, tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D,
          1, 'valid', 'NHWC', stride), [1, 2, 0, 3]);
        const db = tf.sum(dy, [0, 1, 2]);
        if (!inputGrad) return [tf.zerosLike(xs), dW, db];
        const [n, oh, ow, out] = dy.shape;
        let spread: tf.Tensor4D = dy;
        if (stride > 1) {
          // dy at every stride-th place: upsample, keep the top-left copy of each block.
          const mask = tf.tensor4d(Array.from({ length: oh * stride * ow * stride }, (_, i) =>
            (Math.floor(i / (ow * stride)) % stride === 0 && (i % (ow * stride)) % stride === 0 ? 1 : 0)), [1, oh * stride, ow * stride, 1]);
          spread = tf.slice(tf.mul(tf.image.resizeNearestNeighbor(dy, [oh * stride, ow * stride]), mask) as tf.Tensor4D,
            [0, 0, 0, 0], [n, (oh - 1) * stride + 1, (ow - 1) * stride + 1, out]);
        }
        const turned = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
        const dx = tf.conv2d(tf.pad(spread, [[0, 0], [k - 1 - pt, k - 1 - pb], [k - 1 - pl, k - 1 - pr], [0, 0]]), turned, 1, 'valid');
        return [dx, dW, db];
      },
    };
  });
}

const convOps = new Map<string, ReturnType<typeof convOp>>();

/** conv2d(x, W, stride, 'same') + b with the gradients of convOp. */
export function conv2dSame(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor, stride: number, onData = false): tf.Tensor4D {
  const key = `${stride}-${onData}`;
  if (!convOps.has(key)) convOps.set(key, convOp(!onData, stride));
  return convOps.get(key)!(x, kernel, bias) as tf.Tensor4D;
}

/**
 * The whole layer act(conv2d(up(x), W, stride, 'same') + b) as one native kernel, and its gradients as another
 * (native-kernels.ts): the upsampling, bias and relu are fused into the convolution.
 */
function nativeConvOp(stride: number, up: boolean, relu: boolean, inputGrad: boolean) {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, kernel, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    const y = nativeConv2d(x, kernel, bias, stride, up, relu);
    save([x, kernel, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xs, w, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        const grads = nativeConv2dGrad(xs, w, ys, dy, stride, up, relu, inputGrad);
        return inputGrad ? grads : [tf.zerosLike(xs), ...grads];
      },
    };
  });
}

const nativeOps = new Map<string, ReturnType<typeof nativeConvOp>>();

/** A convolution with padding 'same' (and an optional 2x upsampling first); onData: x is data (no gradient for it). */
export function applyConv(x: tf.Tensor4D, p: ConvParams, onData = false): tf.Tensor4D {
  if (nativeConvs()) {
    const key = `${p.stride}-${p.upsample}-${p.relu}-${onData}`;
    if (!nativeOps.has(key)) nativeOps.set(key, nativeConvOp(p.stride, p.upsample, p.relu, !onData));
    return nativeOps.get(key)!(x, p.kernel, p.bias) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    const y = conv2dSame(p.upsample ? upsample2x(x) : x, p.kernel, p.bias, p.stride, onData && !p.upsample);
    return p.relu ? tf.relu(y) : y;
  });
}

/** Nearest-neighbour upsampling by 2, as tf.layers.upSampling2d does it. */
export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  return tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w]);
}

function convLayer(filters: number, kernelSize: number, strides: number, relu: boolean, name: string) {
  return tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', activation: relu ? 'relu' : 'linear', name });
}

/** The encoder's convolutional trunk on an image input [size, size, channels]: returns the flattened features. */
export function convEncoderTrunk(input: tf.SymbolicTensor, shape: ConvShape): tf.SymbolicTensor {
  let h = input;
  shape.channels.forEach((filters, i) => {
    h = convLayer(filters, DOWN_KERNEL, 2, true, `enc_conv_${i + 1}`).apply(h) as tf.SymbolicTensor;
  });
  return tf.layers.flatten({ name: 'enc_flatten' }).apply(h) as tf.SymbolicTensor;
}

/** The decoder's layers from the last dense features to the per-pixel outputs [size, size, outChannels]. */
export function convDecoderHead(h: tf.SymbolicTensor, shape: ConvShape, outChannels: number): tf.SymbolicTensor {
  const top = shape.channels[shape.channels.length - 1];
  h = tf.layers.dense({ units: shape.map * shape.map * top, activation: 'relu', name: 'dec_project' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reshape({ targetShape: [shape.map, shape.map, top], name: 'dec_reshape' }).apply(h) as tf.SymbolicTensor;
  const widths = [...shape.channels].reverse().slice(1);
  widths.forEach((filters, i) => {
    h = tf.layers.upSampling2d({ size: [2, 2], name: `dec_up_${i + 1}` }).apply(h) as tf.SymbolicTensor;
    h = convLayer(filters, UP_KERNEL, 1, true, `dec_conv_${i + 1}`).apply(h) as tf.SymbolicTensor;
  });
  h = tf.layers.upSampling2d({ size: [2, 2], name: `dec_up_${widths.length + 1}` }).apply(h) as tf.SymbolicTensor;
  return convLayer(outChannels, UP_KERNEL, 1, false, 'logits').apply(h) as tf.SymbolicTensor;
}

function convParams(model: tf.LayersModel, name: string, stride: number, upsample: boolean): ConvParams {
  const layer = model.getLayer(name);
  const [kernel, bias] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const activation = (layer.getConfig() as { activation?: string }).activation;
  return { kernel, bias, stride, relu: activation === 'relu', upsample };
}

/** The convolutions of a conv encoder and decoder, in the order they run. */
export function encoderConvs(encoder: tf.LayersModel, shape: ConvShape): ConvParams[] {
  return shape.channels.map((_, i) => convParams(encoder, `enc_conv_${i + 1}`, 2, false));
}

export function decoderConvs(decoder: tf.LayersModel, shape: ConvShape): ConvParams[] {
  const names = [...shape.channels.slice(1).map((_, i) => `dec_conv_${i + 1}`), 'logits'];
  return names.map((name) => convParams(decoder, name, 1, true));
}
