/**
 * The model's parameters as one flat Float32Array (in the order of Vae.trainableVariables()), so that
 * training threads can share them, and gradients, in SharedArrayBuffers.
 */
import * as tf from '@tensorflow/tfjs';
import { readInto, tensorFrom, writeInPlace } from './tensor-io';

export interface FlatLayout {
  /** Offset of each variable in the flat array, and its shape. */
  entries: { offset: number; size: number; shape: number[] }[];
  size: number;
}

export function flatLayout(variables: tf.Variable[]): FlatLayout {
  let offset = 0;
  const entries = variables.map((v) => {
    const entry = { offset, size: v.size, shape: v.shape };
    offset += v.size;
    return entry;
  });
  return { entries, size: offset };
}

export function readVariables(variables: tf.Variable[], layout: FlatLayout, out: Float32Array): void {
  variables.forEach((v, i) => readInto(v, out, layout.entries[i].offset));
}

/**
 * The variables' values from `flat`, each assigned, or with `inPlace` written where it lies in the wasm heap when
 * nothing else shares it (a training thread loads every parameter before every step: assigned, its heap held the old
 * and the new of the largest). Only where every kernel that reads a weight reads it from the heap at every call
 * (native-kernels.ts's nativeReadsWeights): the wasm backend's own matMul and conv2d keep a packed copy of it.
 */
export function writeVariables(variables: tf.Variable[], layout: FlatLayout, flat: Float32Array, inPlace = false): void {
  variables.forEach((v, i) => {
    const { offset, shape } = layout.entries[i];
    if (!(inPlace && writeInPlace(v, flat, offset))) tf.tidy(() => v.assign(tensorFrom(flat, offset, shape)));
  });
}

/** [start, end) of part `index` of `parts` nearly equal parts of [0, total). */
export function partRange(total: number, index: number, parts: number): [number, number] {
  return [Math.floor((total * index) / parts), Math.floor((total * (index + 1)) / parts)];
}
