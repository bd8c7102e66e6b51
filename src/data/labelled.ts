/**
 * Semi-supervised data: which training images keep their label. As in Kingma et al. 2014, the labelled
 * images are balanced across the classes (100 labels on MNIST: 10 per digit), picked with the seed; every
 * other training image is used without its label.
 */
import { VaeError } from '../errors';
import { Rng } from '../rng';

export interface LabelledSplit {
  /** Indices (into the training set) of the labelled images and of the unlabelled ones, both ascending. */
  labelled: Uint32Array;
  unlabelled: Uint32Array;
}

export function splitLabelled(labels: ArrayLike<number>, classes: number, count: number, seed: number): LabelledSplit {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  if (count < classes) throw new VaeError(`--labeled ${count}: at least one label per class is needed (${classes} classes)`);
  const chosen = new Uint8Array(labels.length);
  for (let c = 0; c < classes; c++) {
    const want = Math.floor(count / classes) + (c < count % classes ? 1 : 0);
    const members = byClass[c];
    if (members.length < want) {
      throw new VaeError(`--labeled ${count} needs ${want} images of class ${c}; the training set has ${members.length}`);
    }
    const order = new Rng(seed, 'labelled', c).permutation(members.length);
    for (let k = 0; k < want; k++) chosen[members[order[k]]] = 1;
  }
  const labelled: number[] = [];
  const unlabelled: number[] = [];
  chosen.forEach((flag, i) => (flag ? labelled : unlabelled).push(i));
  return { labelled: Uint32Array.from(labelled), unlabelled: Uint32Array.from(unlabelled) };
}
