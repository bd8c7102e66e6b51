// What the addon's translation units share: the instruction set in use, the matrix product of gemm.cc, and the
// Node API plumbing of a kernel that works on float32 arrays in the wasm heap.
#pragma once

#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vae {

enum class Isa { kNone, kAvx2, kAvx512 };

// The instruction set in use: the best the CPU has, or a lesser one chosen by useIsa() (tests run both).
extern Isa kIsa;

// dst [cols, rows] = the transpose of src [rows, cols].
void transpose(const float* src, float* dst, int64_t rows, int64_t cols);

// C (m x n) = op(A) (m x k) · op(B) (k x n), all row-major; accumulate: C += instead. A transposed B, and the
// products that are cheaper done as (B·Aᵀ)ᵀ, go through `scratch`. The summation order depends only on the
// shapes and the instruction set.
void gemm(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n, bool transA, bool transB,
          std::vector<float>& scratch, bool accumulate);

// The wasm heap a kernel works in (its first argument, an ArrayBuffer), and the float32 arrays at byte offsets
// into it.
struct Heap {
  uint8_t* data = nullptr;
  size_t bytes = 0;

  // The `floats` values at byte offset `off`, or nullptr when they do not lie inside the heap.
  float* floats(int64_t off, int64_t floats) const {
    if (off < 0 || off % 4 != 0 || floats < 0 || static_cast<uint64_t>(off + 4 * floats) > bytes) return nullptr;
    return reinterpret_cast<float*>(data + off);
  }
};

napi_value throwError(napi_env env, const char* message);

// The arguments of a kernel called as name(heap, ints[0], ..., ints[count - 1], ...): exactly `argc` arguments,
// the heap, then `count` integers (offsets and sizes). Throws and returns false when they are not that.
bool kernelArgs(napi_env env, napi_callback_info info, const char* name, size_t argc, napi_value* argv, Heap* heap,
                int64_t* ints, int count);

// conv.cc: the convolutions of the conv models.
napi_value Conv2d(napi_env env, napi_callback_info info);
napi_value Conv2dGrad(napi_env env, napi_callback_info info);

}  // namespace vae
