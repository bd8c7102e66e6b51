/**
 * The image-independent steps of preparing a drawing the way MNIST was prepared (data/images.ts), on grey levels
 * in [0, 1]: shared by the CLI, which resizes with sharp, and the explorer's page (web/explore), which resizes with
 * a canvas. Plain arrays only: nothing here needs Node.
 */

/** Typical stroke width of an MNIST digit, in pixels of the 28 x 28 frame. */
export const MNIST_STROKE = 2.5;

/** Mean grey level of the outer 5% band of an image: above 0.5, a dark drawing on light paper. */
export function borderMean(img: Float32Array, w: number, h: number): number {
  let sum = 0;
  let n = 0;
  const band = Math.max(1, Math.round(Math.min(w, h) * 0.05));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (y < band || y >= h - band || x < band || x >= w - band) {
        sum += img[y * w + x];
        n++;
      }
    }
  }
  return sum / n;
}

function quantile(values: Float32Array, q: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Paper is never pure black after inversion (shading, texture, JPEG noise): subtract the background level
 * (the median, since most of the picture is paper) plus a margin, and stretch the ink to full strength.
 */
export function removeBackground(img: Float32Array): Float32Array {
  const background = quantile(img, 0.5);
  const peak = quantile(img, 0.995);
  const out = new Float32Array(img.length);
  if (peak - background < 0.05) return out; // nothing drawn
  const low = background + 0.2 * (peak - background);
  const high = background + 0.8 * (peak - background);
  for (let i = 0; i < img.length; i++) out[i] = Math.min(1, Math.max(0, (img[i] - low) / (high - low)));
  return out;
}

/** The ink's crop and how it is fitted into a frame: its longer side scaled to 20/28 of it, strokes thickened to MNIST's. */
export interface InkFit {
  x0: number;
  y0: number;
  cropW: number;
  cropH: number;
  newW: number;
  newH: number;
  /** The crop, each pixel replaced by the maximum within `radius` (thin pen strokes would shrink to faint lines). */
  crop: Float32Array;
}

/** How to fit the ink of an image [h, w] into `target`; null for a blank image. */
export function inkFit(ink: Float32Array, w: number, h: number, target: { height: number; width: number }): InkFit | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (ink[y * w + x] > 0.1) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const cropW = x1 - x0 + 1;
  const cropH = y1 - y0 + 1;
  const box = Math.round(Math.min(target.height, target.width) * 20 / 28);
  const scale = box / Math.max(cropW, cropH);
  const radius = Math.round(Math.max(0, MNIST_STROKE / scale - strokeWidth(ink, w, h)) / 2);
  return { x0, y0, cropW, cropH, newW: Math.max(1, Math.round(cropW * scale)), newH: Math.max(1, Math.round(cropH * scale)),
    crop: dilate(ink, w, x0, y0, cropW, cropH, radius) };
}

/** The shrunk digit [newH, newW] placed in the frame with its centre of mass at the centre. */
export function placeByMass(small: Float32Array, newW: number, newH: number, target: { height: number; width: number }): Float32Array {
  let mass = 0, cx = 0, cy = 0;
  for (let y = 0; y < newH; y++) {
    for (let x = 0; x < newW; x++) {
      const v = small[y * newW + x];
      mass += v; cx += v * x; cy += v * y;
    }
  }
  const offX = Math.round(target.width / 2 - (mass > 0 ? cx / mass : newW / 2) - 0.5);
  const offY = Math.round(target.height / 2 - (mass > 0 ? cy / mass : newH / 2) - 0.5);
  const left = Math.min(Math.max(offX, 0), target.width - newW);
  const top = Math.min(Math.max(offY, 0), target.height - newH);
  const out = new Float32Array(target.height * target.width);
  for (let y = 0; y < newH; y++) for (let x = 0; x < newW; x++) out[(y + top) * target.width + x + left] = small[y * newW + x];
  return out;
}

/** The crop (x0, y0, cw, ch) of img, each pixel replaced by the maximum within `radius` (a square). */
function dilate(img: Float32Array, w: number, x0: number, y0: number, cw: number, ch: number, radius: number): Float32Array {
  const out = new Float32Array(cw * ch);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let m = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= ch) continue;
        for (let dx = -radius; dx <= radius; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < cw) m = Math.max(m, img[(yy + y0) * w + xx + x0]);
        }
      }
      out[y * cw + x] = m;
    }
  }
  return out;
}

/** Mean stroke width in pixels ≈ ink area / half the ink perimeter. */
function strokeWidth(ink: Float32Array, w: number, h: number): number {
  let area = 0;
  let edges = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const on = ink[y * w + x] > 0.5;
      if (!on) continue;
      area++;
      if (x === 0 || ink[y * w + x - 1] <= 0.5) edges++;
      if (x === w - 1 || ink[y * w + x + 1] <= 0.5) edges++;
      if (y === 0 || ink[(y - 1) * w + x] <= 0.5) edges++;
      if (y === h - 1 || ink[(y + 1) * w + x] <= 0.5) edges++;
    }
  }
  return edges > 0 ? (2 * area) / edges : 0;
}
