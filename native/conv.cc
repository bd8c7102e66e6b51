// The convolutions of the conv models (src/model/conv.ts), forward and backward, on the products of gemm.cc.
//
// A convolution with TensorFlow's 'same' padding of x [n, h, w, c] by a filter W [k, k, c, out] is a product
// col · W, where each row of col holds the k·k·c inputs under one output pixel ("im2col"), in the order of
// W's rows. The filter gradient is colᵀ · dy and the input gradient is dy · Wᵀ added back onto the pixels each
// column came from ("col2im"). The rows are done in chunks that stay in the L2 cache, so col is never whole.
//
// Fused in, because they cost as much as the products did on the wasm backend:
// - the decoder's 2x nearest-neighbour upsampling before a convolution (`up`): col reads pixel (r/2, c/2), and
//   the input gradient is added straight onto the small map, instead of making and then reducing the big one;
// - the bias and the relu after it, and in the gradient the relu's mask and the bias's sum;
// - the input gradient of a stride-2 convolution: col2im adds only where there are pixels, where the forward
//   form of it convolves a grid that is three-quarters zeros.
//
// No threads: a call's summation order depends only on the shapes and the instruction set, so data-parallel
// training stays independent of the thread count.
#include "kernels.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace vae {
namespace {

// One convolution's geometry: input [n, h, w, c], filter [k, k, c, out], stride; output [n, oh, ow, out], for
// which the input is padded by pt rows on top and pl columns on the left (and as many zeros as it needs after).
struct Conv {
  int64_t n, h, w, c, k, stride, out;
  int64_t oh, ow, pt, pl;

  // TensorFlow's 'same': ceil(size / stride) outputs, the odd padding row and column after.
  static Conv same(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t stride, int64_t out) {
    const int64_t oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
    return Conv{n, h, w, c, k, stride, out, oh, ow, std::max<int64_t>((oh - 1) * stride + k - h, 0) / 2,
                std::max<int64_t>((ow - 1) * stride + k - w, 0) / 2};
  }
  bool valid() const { return n >= 0 && h >= 1 && w >= 1 && c >= 1 && k >= 1 && stride >= 1 && out >= 1; }
  int64_t depth() const { return k * k * c; }  // the columns of col: W's rows
  int64_t rows() const { return n * oh * ow; }  // the rows of col: output pixels
  int64_t inputSize() const { return n * h * w * c; }
};

// Rows of col per chunk: about 128K floats (512 KB), in the L2 cache beside a panel of W.
int64_t chunkRows(const Conv& g) { return std::max<int64_t>(8, (128 * 1024) / g.depth()); }

// Calls f(d, s, len) for each run of `len` floats of col row r (output pixel (image, p, q)) at d in the row and
// in the input at s, and z(d, len) for the runs that fall on the padding. r0..r1 are walked in order.
template <class Copy, class Zero>
inline __attribute__((always_inline)) void forEachSegment(const Conv& g, int64_t r0, int64_t r1, Copy f, Zero z) {
  const int64_t kc = g.k * g.c;
  int64_t q = r0 % g.ow, p = (r0 / g.ow) % g.oh, image = r0 / (g.ow * g.oh);
  for (int64_t r = r0; r < r1; r++) {
    const int64_t base = image * g.h * g.w * g.c, row = (r - r0) * g.depth();
    const int64_t col0 = q * g.stride - g.pl;
    for (int64_t i = 0; i < g.k; i++) {
      const int64_t gr = p * g.stride + i - g.pt;
      const int64_t d = row + i * kc;
      if (gr < 0 || gr >= g.h) {
        z(d, kc);
      } else if (col0 >= 0 && col0 + g.k <= g.w) {  // the window's row lies inside the image: one run
        f(d, base + (gr * g.w + col0) * g.c, kc);
      } else {
        for (int64_t j = 0; j < g.k; j++) {
          const int64_t gc = col0 + j;
          if (gc < 0 || gc >= g.w) z(d + j * g.c, g.c);
          else f(d + j * g.c, base + (gr * g.w + gc) * g.c, g.c);
        }
      }
    }
    if (++q == g.ow) {
      q = 0;
      if (++p == g.oh) p = 0, image++;
    }
  }
}

// col[r − r0] = the inputs under output pixel r, for r in [r0, r1). The runs are short (c floats at the
// borders), so they are copied by loops the compiler vectorises inline rather than by calls to memcpy.
inline __attribute__((always_inline)) void im2colBody(const Conv& g, const float* x, float* col, int64_t r0, int64_t r1) {
  forEachSegment(
      g, r0, r1,
      [&](int64_t d, int64_t s, int64_t len) __attribute__((always_inline)) {
        float* __restrict out = col + d;
        const float* __restrict in = x + s;
        for (int64_t t = 0; t < len; t++) out[t] = in[t];
      },
      [&](int64_t d, int64_t len) __attribute__((always_inline)) {
        for (int64_t t = 0; t < len; t++) col[d + t] = 0.0f;
      });
}

// dx[the pixels under output pixel r] += dcol[r − r0], for r in [r0, r1), in row order.
inline __attribute__((always_inline)) void col2imBody(const Conv& g, const float* dcol, float* dx, int64_t r0, int64_t r1) {
  forEachSegment(
      g, r0, r1,
      [&](int64_t d, int64_t s, int64_t len) __attribute__((always_inline)) {
        float* __restrict out = dx + s;
        const float* __restrict in = dcol + d;
        for (int64_t t = 0; t < len; t++) out[t] += in[t];
      },
      [](int64_t, int64_t) __attribute__((always_inline)) {});
}

// Fewer output channels than this (the logits of an image: 1 or 3), and a product's vectors would run along the
// output channels, mostly empty: such layers use the loops below instead, whose vectors run along col's rows. They
// are written lane by lane (16 independent lanes, no reassociation), so the compiler vectorises them for each
// instruction set and every instruction set gets the same sums.
constexpr int64_t kNarrow = 8;
constexpr int kLanes = 16;

// y[r, o] = col[r] · wt[o] for r < rows, o < out: wt is W transposed, [out, depth]. Four rows at a time.
inline __attribute__((always_inline)) void narrowForwardBody(
    const float* col, const float* wt, float* y, int64_t rows, int64_t depth, int64_t out) {
  const int64_t full = depth - depth % kLanes;
  for (int64_t o = 0; o < out; o++) {
    const float* w = wt + o * depth;
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
      const int64_t group = std::min<int64_t>(4, rows - r0);
      float acc[4][kLanes] = {};
      for (int64_t r = 0; r < group; r++) {
        const float* a = col + (r0 + r) * depth;
        for (int64_t k = 0; k < full; k += kLanes)
          for (int l = 0; l < kLanes; l++) acc[r][l] += a[k + l] * w[k + l];
        for (int64_t k = full; k < depth; k++) acc[r][k - full] += a[k] * w[k];
      }
      for (int64_t r = 0; r < group; r++) {
        float sum = 0;
        for (int l = 0; l < kLanes; l++) sum += acc[r][l];
        y[(r0 + r) * out + o] = sum;
      }
    }
  }
}

// dwt[o] += Σ_r g[r, o] · col[r] (the filter gradient, transposed), and dcol[r] = Σ_o g[r, o] · wt[o] (when dcol
// is not null).
inline __attribute__((always_inline)) void narrowBackwardBody(
    const float* col, const float* g, const float* wt, float* dwt, float* dcol, int64_t rows, int64_t depth,
    int64_t out) {
  for (int64_t r = 0; r < rows; r++) {
    const float* __restrict a = col + r * depth;
    for (int64_t o = 0; o < out; o++) {
      const float gv = g[r * out + o];
      float* __restrict d = dwt + o * depth;
      for (int64_t k = 0; k < depth; k++) d[k] += gv * a[k];
    }
    if (!dcol) continue;
    float* __restrict dc = dcol + r * depth;
    for (int64_t k = 0; k < depth; k++) dc[k] = g[r * out] * wt[k];
    for (int64_t o = 1; o < out; o++) {
      const float gv = g[r * out + o];
      const float* __restrict w = wt + o * depth;
      for (int64_t k = 0; k < depth; k++) dc[k] += gv * w[k];
    }
  }
}

// Each loop above compiled for AVX-512 and for AVX2, and called for the instruction set in use (kIsa), as the
// products are: useIsa('avx2') tests every piece of the AVX2 build on an AVX-512 machine.
#define VAE_FOR_EACH_ISA(name, params, args)                                     \
  __attribute__((target("avx512f"))) void name##512 params { name##Body args; } \
  __attribute__((target("avx2,fma"))) void name##256 params { name##Body args; } \
  void name params {                                                             \
    if (kIsa == Isa::kAvx512) name##512 args;                                     \
    else name##256 args;                                                          \
  }

VAE_FOR_EACH_ISA(im2col, (const Conv& g, const float* x, float* col, int64_t r0, int64_t r1), (g, x, col, r0, r1))
VAE_FOR_EACH_ISA(col2im, (const Conv& g, const float* dcol, float* dx, int64_t r0, int64_t r1), (g, dcol, dx, r0, r1))
VAE_FOR_EACH_ISA(narrowForward, (const float* col, const float* wt, float* y, int64_t rows, int64_t depth, int64_t out),
                 (col, wt, y, rows, depth, out))
VAE_FOR_EACH_ISA(narrowBackward,
                 (const float* col, const float* g, const float* wt, float* dwt, float* dcol, int64_t rows,
                  int64_t depth, int64_t out),
                 (col, g, wt, dwt, dcol, rows, depth, out))
#undef VAE_FOR_EACH_ISA

thread_local std::vector<float> colBuffer, dcolBuffer, gradBuffer, phaseBuffer, weffBuffer, dweffBuffer,
    wtBuffer, narrowBuffer, gemmScratch;

float* sized(std::vector<float>& buffer, int64_t floats) {
  if (static_cast<int64_t>(buffer.size()) < floats) buffer.resize(static_cast<size_t>(floats));
  return buffer.data();
}

// y [rows, out] = the convolution of x by W [depth, out], without bias.
void product(const Conv& g, const float* x, const float* w, float* y) {
  const int64_t depth = g.depth(), rows = g.rows(), chunk = chunkRows(g), out = g.out;
  const bool narrow = out < kNarrow;
  float* col = sized(colBuffer, chunk * depth);
  float* wt = narrow ? sized(wtBuffer, out * depth) : nullptr;
  if (narrow) transpose(w, wt, depth, out);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk), m = r1 - r0;
    im2col(g, x, col, r0, r1);
    if (narrow) narrowForward(col, wt, y + r0 * out, m, depth, out);
    else gemm(col, w, y + r0 * out, m, depth, out, false, false, gemmScratch, false);
  }
}

// From grad [rows, out], the gradient of the product: dw += its filter gradient, and dx += its input gradient
// when dx is not null.
void productGrad(const Conv& g, const float* x, const float* w, const float* grad, float* dx, float* dw) {
  const int64_t depth = g.depth(), rows = g.rows(), chunk = chunkRows(g), out = g.out;
  const bool narrow = out < kNarrow;
  float* wt = sized(wtBuffer, out * depth);
  transpose(w, wt, depth, out);
  float* dwt = dw;
  if (narrow) {  // dWᵀ [out, depth] first
    dwt = sized(narrowBuffer, out * depth);
    transpose(dw, dwt, depth, out);
  }
  float* col = sized(colBuffer, chunk * depth);
  float* dcol = dx ? sized(dcolBuffer, chunk * depth) : nullptr;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk), m = r1 - r0;
    const float* gc = grad + r0 * out;
    im2col(g, x, col, r0, r1);
    if (narrow) {
      narrowBackward(col, gc, wt, dwt, dcol, m, depth, out);
    } else {
      gemm(col, gc, dw, depth, m, out, true, false, gemmScratch, true);                // dW += colᵀ · g
      if (dx) gemm(gc, wt, dcol, m, out, depth, false, false, gemmScratch, false);  // dcol = g · Wᵀ
    }
    if (dx) col2im(g, dcol, dx, r0, r1);
  }
  if (narrow) transpose(dwt, dw, out, depth);
}

// A k x k convolution, stride 1, 'same', of x upsampled 2x by nearest neighbours, is four convolutions of x
// itself, one per phase (a, b) of the output pixel (2p + a, 2q + b): filter row i reads upsampled row
// 2p + a + i − pt, that is row p + ⌊(a + i − pt) / 2⌋ of x, so rows of W that read the same row of x add up.
// For k = 3 each phase is a 2 x 2 convolution: 4/9 of the multiplications, and the big map is never made.
struct Upsampled {
  Conv full;       // the convolution of the upsampled grid [n, 2h, 2w, c]
  Conv phase[2];   // phase a's convolution of x (rows; the columns use the same offsets)
  int64_t taps;    // the phases' filter side
  int64_t pt;      // the full convolution's padding ('same')

  // The row of the phase-a filter that filter row i adds into.
  int64_t tap(int64_t a, int64_t i) const { return floorHalf(a + i - pt) - floorHalf(a - pt); }
  static int64_t floorHalf(int64_t v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

  Upsampled(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t out)
      : full(Conv::same(n, 2 * h, 2 * w, c, k, 1, out)) {
    pt = full.pt;
    taps = 0;
    for (int64_t a = 0; a < 2; a++) taps = std::max(taps, tap(a, k - 1) + 1);
    for (int64_t a = 0; a < 2; a++) {
      const int64_t before = -floorHalf(a - pt);
      phase[a] = Conv{n, h, w, c, taps, 1, out, h, w, before, 0};
    }
  }
  // The convolution of phase (a, b).
  Conv at(int64_t a, int64_t b) const {
    Conv g = phase[a];
    g.pl = phase[b].pt;
    return g;
  }
  // weff [taps, taps, c, out] = phase (a, b)'s filter from W [k, k, c, out].
  void filter(const float* w, float* weff, int64_t a, int64_t b) const {
    const int64_t k = full.k, co = full.c * full.out;
    std::fill(weff, weff + taps * taps * co, 0.0f);
    for (int64_t i = 0; i < k; i++)
      for (int64_t j = 0; j < k; j++) {
        float* dst = weff + (tap(a, i) * taps + tap(b, j)) * co;
        const float* src = w + (i * k + j) * co;
        for (int64_t t = 0; t < co; t++) dst[t] += src[t];
      }
  }
  // dw [k, k, c, out] += phase (a, b)'s share of the filter gradient, from its own dweff.
  void filterGrad(const float* dweff, float* dw, int64_t a, int64_t b) const {
    const int64_t k = full.k, co = full.c * full.out;
    for (int64_t i = 0; i < k; i++)
      for (int64_t j = 0; j < k; j++) {
        const float* src = dweff + (tap(a, i) * taps + tap(b, j)) * co;
        float* dst = dw + (i * k + j) * co;
        for (int64_t t = 0; t < co; t++) dst[t] += src[t];
      }
  }
  // Calls f(r, fr) for the phase's rows r and the rows fr of the full output they are.
  template <class F>
  void forEachRow(int64_t a, int64_t b, F f) const {
    const Conv& g = phase[a];
    for (int64_t image = 0, r = 0; image < g.n; image++)
      for (int64_t p = 0; p < g.h; p++)
        for (int64_t q = 0; q < g.w; q++, r++) f(r, (image * full.oh + 2 * p + a) * full.ow + 2 * q + b);
  }
};

// Values of a layer's input: the small map of an upsampled convolution, else the convolution's own input.
int64_t inputValues(const Conv& g, const Upsampled* up) { return up ? up->phase[0].inputSize() : g.inputSize(); }

// The layer's output from the product's: y = act(y + b), in place.
void finish(float* y, const float* b, int64_t rows, int64_t out, bool relu) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t o = 0; o < out; o++) {
      const float v = y[r * out + o] + b[o];
      y[r * out + o] = relu && v < 0 ? 0.0f : v;
    }
}

// y = act(conv(x or its upsampling, W) + b).
void forward(const Conv& g, const Upsampled* up, const float* x, const float* w, const float* b, float* y,
             bool relu) {
  if (!up) {
    product(g, x, w, y);
    finish(y, b, g.rows(), g.out, relu);
    return;
  }
  const int64_t out = g.out;
  float* weff = sized(weffBuffer, up->taps * up->taps * g.c * out);
  for (int64_t a = 0; a < 2; a++)
    for (int64_t b2 = 0; b2 < 2; b2++) {
      const Conv ph = up->at(a, b2);
      float* py = sized(phaseBuffer, ph.rows() * out);
      up->filter(w, weff, a, b2);
      product(ph, x, weff, py);
      up->forEachRow(a, b2, [&](int64_t r, int64_t fr) { std::copy(py + r * out, py + (r + 1) * out, y + fr * out); });
    }
  finish(y, b, g.rows(), out, relu);
}

// From dy (the gradient of y = act(conv(x, W) + b)) and y (for the relu's mask; null without relu): dW, db and,
// when dx is not null, dx.
void backward(const Conv& g, const Upsampled* up, const float* x, const float* w, const float* y, const float* dy,
              float* dx, float* dw, float* db) {
  const int64_t rows = g.rows(), out = g.out;
  const float* grad = dy;  // the gradient of the product: dy where the relu passed it
  if (y) {
    float* masked = sized(gradBuffer, rows * out);
    for (int64_t i = 0; i < rows * out; i++) masked[i] = y[i] > 0 ? dy[i] : 0.0f;
    grad = masked;
  }
  std::fill(db, db + out, 0.0f);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t o = 0; o < out; o++) db[o] += grad[r * out + o];
  std::fill(dw, dw + g.depth() * out, 0.0f);
  if (dx) std::fill(dx, dx + inputValues(g, up), 0.0f);
  if (!up) {
    productGrad(g, x, w, grad, dx, dw);
    return;
  }
  const int64_t phaseDepth = up->taps * up->taps * g.c;
  float* weff = sized(weffBuffer, phaseDepth * out);
  float* dweff = sized(dweffBuffer, phaseDepth * out);
  for (int64_t a = 0; a < 2; a++)
    for (int64_t b2 = 0; b2 < 2; b2++) {
      const Conv ph = up->at(a, b2);
      float* pg = sized(phaseBuffer, ph.rows() * out);
      up->forEachRow(a, b2, [&](int64_t r, int64_t fr) { std::copy(grad + fr * out, grad + (fr + 1) * out, pg + r * out); });
      up->filter(w, weff, a, b2);
      std::fill(dweff, dweff + phaseDepth * out, 0.0f);
      productGrad(ph, x, weff, pg, dx, dweff);
      up->filterGrad(dweff, dw, a, b2);
    }
}

// The geometry from ints [n, h, w, c, k, stride, up, out]: the convolution (of the upsampled grid with `up`,
// which takes stride 1 only), or a thrown error.
bool geometry(napi_env env, const char* name, const int64_t* v, Conv* g, Upsampled** up, Upsampled* storage) {
  const bool upsample = v[6] != 0;
  *up = nullptr;
  if (upsample && v[5] == 1 && v[1] >= 1 && v[2] >= 1) {
    *storage = Upsampled(v[0], v[1], v[2], v[3], v[4], v[7]);
    *up = storage;
    *g = storage->full;
  } else {
    *g = Conv::same(v[0], v[1], v[2], v[3], v[4], v[5], v[7]);
  }
  if (g->valid() && (!upsample || *up)) return true;
  char message[96];
  std::snprintf(message, sizeof(message), "%s: bad shapes", name);
  throwError(env, message);
  return false;
}

}  // namespace

namespace {

// A conv kernel's arguments: the heap and kernelArgs' integers, then the geometry from integer `at` on.
struct ConvArgs {
  Heap heap;
  int64_t v[15];
  Conv g{};
  Upsampled storage{1, 1, 1, 1, 1, 1};
  Upsampled* up = nullptr;  // points into storage: a ConvArgs is not copied

  bool read(napi_env env, napi_callback_info info, const char* name, size_t argc, int count, int at) {
    napi_value argv[16];
    return kernelArgs(env, info, name, argc, argv, &heap, v, count) && geometry(env, name, v + at, &g, &up, &storage);
  }
  int64_t inputs() const { return inputValues(g, up); }
};

}  // namespace

// conv2d(heap, x, w, b, y, n, h, w, c, k, stride, up, out, relu): byte offsets, then the geometry;
// y [n, oh, ow, out] = act(conv(x or its 2x upsampling, W, stride, 'same') + b).
napi_value Conv2d(napi_env env, napi_callback_info info) {
  ConvArgs a;
  if (!a.read(env, info, "conv2d", 14, 13, 4)) return nullptr;
  const Conv& g = a.g;
  const float* x = a.heap.floats(a.v[0], a.inputs());
  const float* w = a.heap.floats(a.v[1], g.depth() * g.out);
  const float* b = a.heap.floats(a.v[2], g.out);
  float* y = a.heap.floats(a.v[3], g.rows() * g.out);
  if (!x || !w || !b || !y) return throwError(env, "conv2d: operands do not fit the buffer");
  forward(g, a.up, x, w, b, y, a.v[12] != 0);
  return nullptr;
}

// conv2dGrad(heap, x, w, y, dy, dx, dw, db, n, h, w, c, k, stride, up, out): byte offsets, then the geometry.
// y: the forward output for the relu's mask, or −1 without relu; dx: −1 when x needs no gradient.
napi_value Conv2dGrad(napi_env env, napi_callback_info info) {
  ConvArgs a;
  if (!a.read(env, info, "conv2dGrad", 16, 15, 7)) return nullptr;
  const Conv& g = a.g;
  const int64_t* v = a.v;
  const int64_t outputs = g.rows() * g.out;
  const float* x = a.heap.floats(v[0], a.inputs());
  const float* w = a.heap.floats(v[1], g.depth() * g.out);
  const float* y = v[2] < 0 ? nullptr : a.heap.floats(v[2], outputs);
  const float* dy = a.heap.floats(v[3], outputs);
  float* dx = v[4] < 0 ? nullptr : a.heap.floats(v[4], a.inputs());
  float* dw = a.heap.floats(v[5], g.depth() * g.out);
  float* db = a.heap.floats(v[6], g.out);
  if (!x || !w || !dy || !dw || !db || (v[2] >= 0 && !y) || (v[4] >= 0 && !dx))
    return throwError(env, "conv2dGrad: operands do not fit the buffer");
  backward(g, a.up, x, w, y, dy, dx, dw, db);
  return nullptr;
}

}  // namespace vae
