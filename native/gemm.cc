// Single-precision matrix products for the wasm backend, in native code.
//
// The wasm backend runs its products through XNNPACK compiled to 128-bit WebAssembly SIMD without FMA (37 GFLOP/s
// per core here), and it repacks the right-hand matrix whenever that matrix is a new tensor, which during training
// is every step. This addon multiplies the same float32 arrays in place in the wasm heap with the CPU's own vector
// units (AVX-512 or AVX2 with FMA), chosen when the addon loads. src/native-kernels.ts registers it as the
// wasm backend's BatchMatMul kernel.
//
// The result of one product does not depend on anything but its inputs (no threads, a fixed summation order per
// CPU path), so data-parallel training stays independent of the thread count.
#include "kernels.h"

#include <immintrin.h>

#include <cstdio>
#include <cstring>

namespace vae {
namespace {

// A(i, k) = a[i * aRow + k * aCol]: aRow = K, aCol = 1 for a plain A; aRow = 1, aCol = M for a transposed one.
// B is always plain here: B(k, j) = b[k * ldb + j] (a transposed B is transposed into a scratch buffer first).
struct Operands {
  const float* a;
  int64_t aRow, aCol;
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
};

// One driver (gemmWith) serves both instruction sets, as a template that calls their micro-kernels directly. A
// driver calling them through a table of function pointers measured 2.5x slower (64x784x400: 0.55 against
// 0.22 ms; GCC no longer unrolled the micro-kernels' loop).
// Rows of A per micro-kernel call, and the k-block that keeps a panel of B in the L1/L2 caches.
constexpr int kMr = 8;
constexpr int kKc = 256;

// The first n lanes of a vector (all of them when n is the width or more, none when n <= 0): the masks of a row's
// last, partial vector, for AVX-512 (16 floats, a bit mask) and for AVX2 (8 floats, a vector mask).
__attribute__((target("avx512f"))) inline __mmask16 firstLanes16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1u);
}

__attribute__((target("avx2"))) inline __m256i firstLanes8(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---------------------------------------------------------------------------------------------------------- AVX-512
template <int MR, int NV>
__attribute__((target("avx512f"))) void tile512(const Operands& o, int64_t i0, int64_t j0, int64_t k0, int64_t kc,
                                                int nr, bool accumulate) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
  __mmask16 mask[NV];
  for (int v = 0; v < NV; v++) mask[v] = firstLanes16(nr - 16 * v);
  const float* bp = o.b + k0 * o.ldb + j0;
  const float* ap = o.a + i0 * o.aRow + k0 * o.aCol;
  for (int64_t k = 0; k < kc; k++) {
    __m512 bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(mask[v], bp + 16 * v);
    for (int r = 0; r < MR; r++) {
      const __m512 av = _mm512_set1_ps(ap[r * o.aRow]);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    bp += o.ldb;
    ap += o.aCol;
  }
  for (int r = 0; r < MR; r++) {
    float* cp = o.c + (i0 + r) * o.ldc + j0;
    for (int v = 0; v < NV; v++) {
      __m512 out = acc[r][v];
      if (accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask[v], cp + 16 * v));
      _mm512_mask_storeu_ps(cp + 16 * v, mask[v], out);
    }
  }
}

// ------------------------------------------------------------------------------------------------------ AVX2 + FMA
template <int MR, int NV>
__attribute__((target("avx2,fma"))) void tile256(const Operands& o, int64_t i0, int64_t j0, int64_t k0, int64_t kc,
                                                 int nr, bool accumulate) {
  __m256 acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
  __m256i mask[NV];
  for (int v = 0; v < NV; v++) mask[v] = firstLanes8(nr - 8 * v);
  const float* bp = o.b + k0 * o.ldb + j0;
  const float* ap = o.a + i0 * o.aRow + k0 * o.aCol;
  for (int64_t k = 0; k < kc; k++) {
    __m256 bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = _mm256_maskload_ps(bp + 8 * v, mask[v]);
    for (int r = 0; r < MR; r++) {
      const __m256 av = _mm256_broadcast_ss(ap + r * o.aRow);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
    bp += o.ldb;
    ap += o.aCol;
  }
  for (int r = 0; r < MR; r++) {
    float* cp = o.c + (i0 + r) * o.ldc + j0;
    for (int v = 0; v < NV; v++) {
      __m256 out = acc[r][v];
      if (accumulate) out = _mm256_add_ps(out, _mm256_maskload_ps(cp + 8 * v, mask[v]));
      _mm256_maskstore_ps(cp + 8 * v, mask[v], out);
    }
  }
}

// ------------------------------------------------------------------------------------------------------- the driver
// Each instruction set's micro-kernels: rows of A per tile (its accumulators fill half or more of the registers:
// 8 x 2 of 32 zmm, 6 x 2 of 16 ymm) and floats per vector. A tile covers up to two vectors of columns.
struct Avx512Tiles {
  static constexpr int kRows = kMr;
  static constexpr int kWidth = 16;
  template <int MR, int NV>
  static void tile(const Operands& o, int64_t i0, int64_t j0, int64_t k0, int64_t kc, int nr, bool acc) {
    tile512<MR, NV>(o, i0, j0, k0, kc, nr, acc);
  }
};

struct Avx2Tiles {
  static constexpr int kRows = 6;
  static constexpr int kWidth = 8;
  template <int MR, int NV>
  static void tile(const Operands& o, int64_t i0, int64_t j0, int64_t k0, int64_t kc, int nr, bool acc) {
    tile256<MR, NV>(o, i0, j0, k0, kc, nr, acc);
  }
};

// The last rows of a panel, fewer than a full tile: the tile of exactly `rows` rows.
template <class Tiles, int NV, int MR = Tiles::kRows - 1>
void lastRows(int rows, const Operands& o, int64_t i0, int64_t j0, int64_t k0, int64_t kc, int nr, bool acc) {
  if constexpr (MR > 0) {
    if (rows == MR) return Tiles::template tile<MR, NV>(o, i0, j0, k0, kc, nr, acc);
    lastRows<Tiles, NV, MR - 1>(rows, o, i0, j0, k0, kc, nr, acc);
  }
}

template <class Tiles, int NV>
void panel(const Operands& o, int64_t m, int64_t j0, int64_t k0, int64_t kc, int nr, bool acc) {
  int64_t i = 0;
  for (; i + Tiles::kRows <= m; i += Tiles::kRows) Tiles::template tile<Tiles::kRows, NV>(o, i, j0, k0, kc, nr, acc);
  if (i < m) lastRows<Tiles, NV>(static_cast<int>(m - i), o, i, j0, k0, kc, nr, acc);
}

// k-blocks of kKc; panels of two vectors of columns (the last one narrower); row tiles of Tiles::kRows.
// accumulate: C += the product (else C = the product).
template <class Tiles>
void gemmWith(const Operands& o, int64_t m, int64_t k, int64_t n, bool accumulate) {
  constexpr int kPanel = 2 * Tiles::kWidth;
  for (int64_t k0 = 0; k0 < k; k0 += kKc) {
    const int64_t kc = k - k0 < kKc ? k - k0 : kKc;
    for (int64_t j0 = 0; j0 < n; j0 += kPanel) {
      const int nr = static_cast<int>(n - j0 < kPanel ? n - j0 : kPanel);
      if (nr > Tiles::kWidth) panel<Tiles, 2>(o, m, j0, k0, kc, nr, accumulate || k0 > 0);
      else panel<Tiles, 1>(o, m, j0, k0, kc, nr, accumulate || k0 > 0);
    }
  }
}

}  // namespace

static Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
  return Isa::kNone;
}

static const Isa kDetected = detect();
// The instruction set in use: the best the CPU has, or a lesser one chosen by useIsa() (tests run both).
Isa kIsa = kDetected;

static const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "none";
  }
}

// dst [cols, rows] = the transpose of src [rows, cols], by blocks of 32 x 32 that stay in the L1 cache.
void transpose(const float* src, float* dst, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < r0 + kBlock && r < rows; r++)
        for (int64_t q = c0; q < c0 + kBlock && q < cols; q++) dst[q * rows + r] = src[r * cols + q];
}

static void plainGemm(const Operands& o, int64_t m, int64_t k, int64_t n, bool accumulate = false) {
  if (kIsa == Isa::kAvx512) gemmWith<Avx512Tiles>(o, m, k, n, accumulate);
  else gemmWith<Avx2Tiles>(o, m, k, n, accumulate);
}

void gemm(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n, bool transA, bool transB,
          std::vector<float>& scratch, bool accumulate) {
  if (k == 0) {
    if (!accumulate) std::memset(c, 0, sizeof(float) * m * n);
    return;
  }
  if (transB && !transA && !accumulate && m * (k + n) < k * n) {
    // A·Bᵀ as (B·Aᵀ)ᵀ, so that only the small operands are transposed: for dy·Wᵀ, the gradient of a dense
    // layer's input, A is the batch's dy [m, k] and B the weights [n, k].
    scratch.resize(static_cast<size_t>(m * (k + n)));
    float* at = scratch.data();
    float* ct = at + k * m;
    transpose(a, at, m, k);
    plainGemm(Operands{b, k, 1, at, m, ct, m}, n, k, m);
    transpose(ct, c, n, m);
    return;
  }
  const float* plainB = b;
  if (transB) {  // B is stored n x k: make it k x n
    scratch.resize(static_cast<size_t>(k * n));
    transpose(b, scratch.data(), n, k);
    plainB = scratch.data();
  }
  plainGemm(Operands{a, transA ? 1 : k, transA ? m : 1, plainB, n, c, n}, m, k, n, accumulate);
}

namespace {

// ----------------------------------------------------------------------------------- Bernoulli NLL from logits
// Per row i: Σ_j [max(l, 0) − l·x + log1p(exp(−|l|))], and the gradient (σ(l) − x)·dy_i, in one pass each instead of
// a dozen wasm kernels (whose Exp and Log1p are scalar). exp and log1p are glibc's vector functions (libmvec,
// the ones GCC calls when it vectorizes expf/log1pf loops; at most 4 ulp). The row sums are added in 16 lanes and
// then across them, in a fixed order.
extern "C" {
__attribute__((target("avx512f"))) __m512 _ZGVeN16v_expf(__m512);
__attribute__((target("avx512f"))) __m512 _ZGVeN16v_log1pf(__m512);
__attribute__((target("avx2"))) __m256 _ZGVdN8v_expf(__m256);
__attribute__((target("avx2"))) __m256 _ZGVdN8v_log1pf(__m256);
}

__attribute__((target("avx512f"))) void bceForward512(const float* l, const float* x, float* out, int64_t rows,
                                                      int64_t cols) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < rows; i++) {
    const float* lr = l + i * cols;
    const float* xr = x + i * cols;
    __m512 acc = zero;
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 mask = firstLanes16(cols - j);
      const __m512 lv = _mm512_maskz_loadu_ps(mask, lr + j);
      const __m512 xv = _mm512_maskz_loadu_ps(mask, xr + j);
      const __m512 negAbs = _mm512_min_ps(lv, _mm512_sub_ps(zero, lv));
      const __m512 soft = _mm512_maskz_mov_ps(mask, _ZGVeN16v_log1pf(_ZGVeN16v_expf(negAbs)));
      acc = _mm512_add_ps(acc, _mm512_add_ps(_mm512_sub_ps(_mm512_max_ps(lv, zero), _mm512_mul_ps(lv, xv)), soft));
    }
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc);
    float sum = 0;
    for (float lane : lanes) sum += lane;
    out[i] = sum;
  }
}

__attribute__((target("avx512f"))) void bceBackward512(const float* l, const float* x, const float* dy, float* out,
                                                       int64_t rows, int64_t cols) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < rows; i++) {
    const __m512 scale = _mm512_set1_ps(dy[i]);
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 mask = firstLanes16(cols - j);
      const __m512 lv = _mm512_maskz_loadu_ps(mask, l + i * cols + j);
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * cols + j);
      const __m512 sigmoid = _mm512_div_ps(one, _mm512_add_ps(one, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_setzero_ps(), lv))));
      _mm512_mask_storeu_ps(out + i * cols + j, mask, _mm512_mul_ps(_mm512_sub_ps(sigmoid, xv), scale));
    }
  }
}

__attribute__((target("avx2,fma"))) void bceForward256(const float* l, const float* x, float* out, int64_t rows,
                                                       int64_t cols) {
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t i = 0; i < rows; i++) {
    const float* lr = l + i * cols;
    const float* xr = x + i * cols;
    __m256 acc = zero;
    for (int64_t j = 0; j < cols; j += 8) {
      const __m256i mask = firstLanes8(cols - j);
      const __m256 lv = _mm256_maskload_ps(lr + j, mask);
      const __m256 xv = _mm256_maskload_ps(xr + j, mask);
      const __m256 negAbs = _mm256_min_ps(lv, _mm256_sub_ps(zero, lv));
      const __m256 soft = _mm256_and_ps(_ZGVdN8v_log1pf(_ZGVdN8v_expf(negAbs)), _mm256_castsi256_ps(mask));
      acc = _mm256_add_ps(acc, _mm256_add_ps(_mm256_sub_ps(_mm256_max_ps(lv, zero), _mm256_mul_ps(lv, xv)), soft));
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    float sum = 0;
    for (float lane : lanes) sum += lane;
    out[i] = sum;
  }
}

__attribute__((target("avx2,fma"))) void bceBackward256(const float* l, const float* x, const float* dy, float* out,
                                                        int64_t rows, int64_t cols) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < rows; i++) {
    const __m256 scale = _mm256_set1_ps(dy[i]);
    for (int64_t j = 0; j < cols; j += 8) {
      const __m256i mask = firstLanes8(cols - j);
      const __m256 lv = _mm256_maskload_ps(l + i * cols + j, mask);
      const __m256 xv = _mm256_maskload_ps(x + i * cols + j, mask);
      const __m256 sigmoid = _mm256_div_ps(one, _mm256_add_ps(one, _ZGVdN8v_expf(_mm256_sub_ps(_mm256_setzero_ps(), lv))));
      _mm256_maskstore_ps(out + i * cols + j, mask, _mm256_mul_ps(_mm256_sub_ps(sigmoid, xv), scale));
    }
  }
}

// ------------------------------------------------------------------------------------------------------------- Adam
// The same arithmetic as src/engine/adam.ts, operation for operation: sums of the shard gradients in float32, the
// moments and the update in double, each stored value rounded to float32 once. Built with -ffp-contract=off, so
// no multiply-add is fused behind our back, and the results equal the JavaScript loop's bit for bit.
__attribute__((target_clones("avx512f", "avx2", "default"))) void adamRange(
    float* __restrict params, float* __restrict m, float* __restrict v, float* const* grads, int shards, int64_t start, int64_t end, double stepSize,
    double invCorrection2, double beta1, double beta2, double epsilon) {
  float* g = grads[0];
  for (int s = 1; s < shards; s++) {
    const float* gs = grads[s];
    for (int64_t i = start; i < end; i++) g[i] = g[i] + gs[i];
  }
  const double a1 = 1 - beta1, a2 = 1 - beta2;
  for (int64_t i = start; i < end; i++) {
    const double gi = g[i];
    const double mi = beta1 * static_cast<double>(m[i]) + a1 * gi;
    const double vi = beta2 * static_cast<double>(v[i]) + a2 * gi * gi;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    params[i] = static_cast<float>(static_cast<double>(params[i]) - (stepSize * mi) / (__builtin_sqrt(vi * invCorrection2) + epsilon));
  }
}

}  // namespace

// --------------------------------------------------------------------------------------------------------- Node API
bool getInt(napi_env env, napi_value v, int64_t* out) { return napi_get_value_int64(env, v, out) == napi_ok; }

napi_value throwError(napi_env env, const char* message) {
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

bool kernelArgs(napi_env env, napi_callback_info info, const char* name, size_t argc, napi_value* argv, Heap* heap,
                int64_t* ints, int count) {
  char message[96];
  const auto fail = [&](const char* what) {
    std::snprintf(message, sizeof(message), "%s: %s", name, what);
    throwError(env, message);
    return false;
  };
  size_t given = argc;
  if (napi_get_cb_info(env, info, &given, argv, nullptr, nullptr) != napi_ok || given != argc)
    return fail("wrong number of arguments");
  if (napi_get_arraybuffer_info(env, argv[0], reinterpret_cast<void**>(&heap->data), &heap->bytes) != napi_ok)
    return fail("the first argument must be an ArrayBuffer");
  for (int i = 0; i < count; i++)
    if (!getInt(env, argv[1 + i], &ints[i])) return fail("offsets and sizes must be numbers");
  if (kIsa == Isa::kNone) return fail("this CPU has neither AVX-512 nor AVX2 with FMA");
  return true;
}

namespace {

// matmul(heap: ArrayBuffer, aOffset, bOffset, cOffset, batchA, batchB, m, k, n, transA, transB): byte offsets into
// heap; A holds batchA matrices, B batchB, C max(batchA, batchB) (a batch of 1 is broadcast).
napi_value Matmul(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  Heap heap;
  int64_t v[8];
  if (!kernelArgs(env, info, "matmul", 11, argv, &heap, v, 8)) return nullptr;
  bool transA = false, transB = false;
  napi_get_value_bool(env, argv[9], &transA);
  napi_get_value_bool(env, argv[10], &transB);
  const int64_t batchA = v[3], batchB = v[4], m = v[5], k = v[6], n = v[7];
  const int64_t batch = batchA > batchB ? batchA : batchB;
  const bool shapesOk = m >= 0 && k >= 0 && n >= 0 && batchA >= 1 && batchB >= 1 &&
                        (batchA == batchB || batchA == 1 || batchB == 1);
  const float* a = shapesOk ? heap.floats(v[0], batchA * m * k) : nullptr;
  const float* b = shapesOk ? heap.floats(v[1], batchB * k * n) : nullptr;
  float* c = shapesOk ? heap.floats(v[2], batch * m * n) : nullptr;
  if (!a || !b || !c) return throwError(env, "matmul: operands do not fit the buffer");
  static thread_local std::vector<float> scratch;
  for (int64_t i = 0; i < batch; i++) {
    gemm(a + (batchA == 1 ? 0 : i * m * k), b + (batchB == 1 ? 0 : i * k * n), c + i * m * n, m, k, n, transA,
         transB, scratch, false);
  }
  return nullptr;
}

// bce(heap, logits, x, dy, out, rows, cols): byte offsets; dy < 0: out[rows] = the row sums of the NLL;
// else out[rows, cols] = (σ(l) − x)·dy[row].
napi_value Bce(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Heap heap;
  int64_t v[6];
  if (!kernelArgs(env, info, "bce", 7, argv, &heap, v, 6)) return nullptr;
  const int64_t rows = v[4], cols = v[5];
  const bool backward = v[2] >= 0;
  const bool shapesOk = rows >= 0 && cols >= 0;
  const float* l = shapesOk ? heap.floats(v[0], rows * cols) : nullptr;
  const float* x = shapesOk ? heap.floats(v[1], rows * cols) : nullptr;
  const float* dy = shapesOk && backward ? heap.floats(v[2], rows) : nullptr;
  float* out = shapesOk ? heap.floats(v[3], backward ? rows * cols : rows) : nullptr;
  if (!l || !x || !out || (backward && !dy)) return throwError(env, "bce: operands do not fit the buffer");
  if (kIsa == Isa::kAvx512) {
    if (backward) bceBackward512(l, x, dy, out, rows, cols);
    else bceForward512(l, x, out, rows, cols);
  } else {
    if (backward) bceBackward256(l, x, dy, out, rows, cols);
    else bceForward256(l, x, out, rows, cols);
  }
  return nullptr;
}

// Float32Array of at least `need` elements (its data pointer), else nullptr.
float* floats(napi_env env, napi_value value, int64_t need) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float32_array || static_cast<int64_t>(length) < need)
    return nullptr;
  return static_cast<float*>(data);
}

// adam(params, m, v, grads: Float32Array[], start, end, stepSize, invCorrection2, beta1, beta2, epsilon)
napi_value Adam(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 11)
    return throwError(env, "adam: expected 11 arguments");
  int64_t start = 0, end = 0;
  double d[5];
  if (!getInt(env, argv[4], &start) || !getInt(env, argv[5], &end) || start < 0 || end < start)
    return throwError(env, "adam: bad range");
  for (int i = 0; i < 5; i++)
    if (napi_get_value_double(env, argv[6 + i], &d[i]) != napi_ok) return throwError(env, "adam: numbers expected");
  float* params = floats(env, argv[0], end);
  float* m = floats(env, argv[1], end);
  float* v = floats(env, argv[2], end);
  uint32_t shards = 0;
  if (!params || !m || !v || napi_get_array_length(env, argv[3], &shards) != napi_ok || shards < 1 || shards > 64)
    return throwError(env, "adam: Float32Arrays of the parameters' length expected");
  float* grads[64];
  for (uint32_t s = 0; s < shards; s++) {
    napi_value g;
    napi_get_element(env, argv[3], s, &g);
    if (!(grads[s] = floats(env, g, end))) return throwError(env, "adam: gradient arrays too short");
  }
  adamRange(params, m, v, grads, static_cast<int>(shards), start, end, d[0], d[1], d[2], d[3], d[4]);
  return nullptr;
}

// useIsa('avx512' | 'avx2'): use that instruction set from now on, if the CPU has it; returns the one in use.
napi_value UseIsa(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[16] = {0};
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &length) != napi_ok)
    return throwError(env, "useIsa: expected 'avx512' or 'avx2'");
  const Isa wanted = std::strcmp(name, "avx512") == 0 ? Isa::kAvx512
                     : std::strcmp(name, "avx2") == 0 ? Isa::kAvx2
                                                      : Isa::kNone;
  if (wanted == Isa::kNone || static_cast<int>(wanted) > static_cast<int>(kDetected))
    return throwError(env, "useIsa: this CPU does not have that instruction set");
  kIsa = wanted;
  napi_value result;
  napi_create_string_utf8(env, isaName(kIsa), NAPI_AUTO_LENGTH, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn, isa;
  napi_create_function(env, "matmul", NAPI_AUTO_LENGTH, Matmul, nullptr, &fn);
  napi_set_named_property(env, exports, "matmul", fn);
  napi_create_function(env, "bce", NAPI_AUTO_LENGTH, Bce, nullptr, &fn);
  napi_set_named_property(env, exports, "bce", fn);
  napi_create_function(env, "useIsa", NAPI_AUTO_LENGTH, UseIsa, nullptr, &fn);
  napi_set_named_property(env, exports, "useIsa", fn);
  napi_create_function(env, "adam", NAPI_AUTO_LENGTH, Adam, nullptr, &fn);
  napi_set_named_property(env, exports, "adam", fn);
  napi_create_function(env, "conv2d", NAPI_AUTO_LENGTH, Conv2d, nullptr, &fn);
  napi_set_named_property(env, exports, "conv2d", fn);
  napi_create_function(env, "conv2dGrad", NAPI_AUTO_LENGTH, Conv2dGrad, nullptr, &fn);
  napi_set_named_property(env, exports, "conv2dGrad", fn);
  napi_create_string_utf8(env, isaName(kIsa), NAPI_AUTO_LENGTH, &isa);
  napi_set_named_property(env, exports, "isa", isa);
  return exports;
}

}  // namespace
}  // namespace vae

NAPI_MODULE_INIT() { return vae::Init(env, exports); }
