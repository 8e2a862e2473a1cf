// CUDA fused argmax + histogram: one warp per row of logits, a shuffle reduction with the
// lowest-index tie rule, one atomicAdd per row into the input's counts (or its invalid tally).
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "../rsmooth/argmax.h"

namespace rsmooth {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int64_t kMaxGridBlocks = 65535LL * 32;

template <LogitDtype D>
__global__ void argmax_count_kernel(CountArgs a) {
  using Reader = LogitReader<D>;
  using Value = typename Reader::Value;
  constexpr int64_t element_size = D == LogitDtype::Float64 ? 8 : D == LogitDtype::Float32 ? 4 : 2;
  const int lane = threadIdx.x % 32;
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int64_t counted = a.counted_rows();
  for (int64_t r = warp; r < counted; r += warps) {
    const void* row = static_cast<const char*>(a.logits) + r * a.row_stride * element_size;
    Vote<Value> vote = empty_vote<Value>();
    for (int64_t k = lane; k < a.num_classes; k += 32) vote.add(Reader::read(row, k), k);
    for (int offset = 16; offset > 0; offset /= 2) {
      Vote<Value> other;
      other.best = __shfl_down_sync(0xffffffffu, vote.best, offset);
      other.index = __shfl_down_sync(0xffffffffu, vote.index, offset);
      other.valid = __shfl_down_sync(0xffffffffu, static_cast<int>(vote.valid), offset);
      vote.merge(other);
    }
    if (lane == 0) {
      const int64_t input = r / a.rows_per_input;
      unsigned long long* target = reinterpret_cast<unsigned long long*>(
          vote.valid ? a.counts + input * a.num_classes + vote.index : a.invalid + input);
      atomicAdd(target, 1ull);
    }
  }
}

}  // namespace

void argmax_count_cuda(const CountArgs& a, void* stream_ptr) {
  if (a.num_rows == 0) return;
  const int threads = 32 * kWarpsPerBlock;
  const int64_t grid = std::max<int64_t>(1, std::min<int64_t>((a.num_rows + kWarpsPerBlock - 1) / kWarpsPerBlock,
                                                              kMaxGridBlocks));
  dispatch_logit_dtype(a.dtype, [&](auto dtype) {
    argmax_count_kernel<decltype(dtype)::value>
        <<<grid, threads, 0, static_cast<cudaStream_t>(stream_ptr)>>>(a);
  });
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("rsmooth_ext::argmax_count_: CUDA launch failed: ") +
                             cudaGetErrorString(err));
  }
}

}  // namespace rsmooth
