// CUDA loops of the fused perturb kernel. Raw pointers and CUDA/CUB headers only (fast nvcc builds);
// the element math is in csrc/rsmooth/, shared with the CPU loops.
#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "../rsmooth/perturb.h"

namespace rsmooth {
namespace {

constexpr int kIidThreads = 256;
constexpr int kRadialThreads = 256;
constexpr int64_t kMaxGridBlocks = 65535LL * 32;

void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("rsmooth_ext::") + what + ": CUDA launch failed: " +
                             cudaGetErrorString(err));
  }
}

// One thread per Philox block (4 elements), grid-stride over all (row, block) pairs.
template <class Rule, OutDtype D>
__global__ void perturb_iid_kernel(PerturbArgs a, Rule rule) {
  a.load_rng_state();
  const int64_t blocks_per_row = a.num_blocks();
  const int64_t total = a.num_rows() * blocks_per_row;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = t / blocks_per_row;
    const int64_t block = t - row * blocks_per_row;
    uint32_t words[4];
    float xin[4], y[4];
    const SampleStream stream = a.stream_of_row(row);
    draw_words(stream, block, 1, words);
    load_span(a, row, 4 * block, 4, xin);
    iid_span(rule, stream, 4 * block, words, xin, y, 4);
    store_span<D>(a, row, 4 * block, 4, y);
  }
}

// One CUDA block per sample row: (l_1 / l_2) a block-wide sum of the normaliser, the radius and l_inf
// choice once, then a second pass that regenerates the same words to write the output.
template <class Rule, OutDtype D>
__global__ void perturb_radial_kernel(PerturbArgs a, Rule rule) {
  constexpr Sphere S = Rule::kSphere;
  using Reduce = cub::BlockReduce<double, kRadialThreads>;
  __shared__ typename Reduce::TempStorage reduce_storage;
  __shared__ RadialDraw shared_draw;
  __shared__ float shared_scale;
  a.load_rng_state();
  const int64_t blocks_per_row = a.num_blocks();
  for (int64_t row = blockIdx.x; row < a.num_rows(); row += gridDim.x) {
    const SampleStream stream = a.stream_of_row(row);
    uint32_t words[4];
    float raw[4], xin[4], y[4];
    double partial = 0.0;
    if (S != Sphere::Linf) {
      for (int64_t block = threadIdx.x; block < blocks_per_row; block += blockDim.x) {
        draw_words(stream, block, 1, words);
        direction_span<S>(words, raw, 4);
        partial += norm_span<S>(a, 4 * block, 4, raw);
      }
    }
    const double norm_sum = Reduce(reduce_storage).Sum(partial);
    if (threadIdx.x == 0) {
      shared_draw = draw_radial(rule, a.numel, stream);
      shared_scale = direction_scale<S>(shared_draw.radius, norm_sum);
    }
    __syncthreads();
    const RadialDraw draw = shared_draw;
    const float scale = shared_scale;
    for (int64_t block = threadIdx.x; block < blocks_per_row; block += blockDim.x) {
      draw_words(stream, block, 1, words);
      direction_span<S>(words, raw, 4);
      load_span(a, row, 4 * block, 4, xin);
      radial_finish_span(draw, scale, 4 * block, 4, raw, xin, y);
      store_span<D>(a, row, 4 * block, 4, y);
    }
    __syncthreads();  // reduce_storage and the shared draw are reused by the next row
  }
}

// Grid-stride: the grid is capped (grid_for), so one thread may handle several counters.
__global__ void philox_kernel(const uint32_t* counters, int64_t n, uint32_t key0, uint32_t key1,
                              uint32_t* out) {
  const uint32_t key[2] = {key0, key1};
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    philox4x32_10(counters + 4 * i, key, out + 4 * i);
  }
}

int64_t grid_for(int64_t work, int threads) {
  return std::max<int64_t>(1, std::min<int64_t>((work + threads - 1) / threads, kMaxGridBlocks));
}

}  // namespace

void perturb_cuda(const PerturbArgs& a, void* stream_ptr) {
  if (a.num_rows() == 0 || a.numel == 0) return;
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  dispatch_out_dtype(a.out_dtype, [&](auto dtype) {
    constexpr OutDtype D = decltype(dtype)::value;
    dispatch_noise(a.kind, a.params, [&](const auto& rule) {
      using Rule = std::decay_t<decltype(rule)>;
      if constexpr (RadialRule<Rule>) {
        const int64_t grid = std::min<int64_t>(a.num_rows(), kMaxGridBlocks);
        perturb_radial_kernel<Rule, D><<<grid, kRadialThreads, 0, stream>>>(a, rule);
      } else {
        const int64_t grid = grid_for(a.num_rows() * a.num_blocks(), kIidThreads);
        perturb_iid_kernel<Rule, D><<<grid, kIidThreads, 0, stream>>>(a, rule);
      }
    });
  });
  check_launch("perturb");
}

void philox_cuda(const uint32_t* counters, int64_t n, const uint32_t key[2], uint32_t* out,
                 void* stream_ptr) {
  if (n == 0) return;
  const int threads = 256;
  philox_kernel<<<grid_for(n, threads), threads, 0, static_cast<cudaStream_t>(stream_ptr)>>>(
      counters, n, key[0], key[1], out);
  check_launch("philox4x32_10");
}

}  // namespace rsmooth
