// CPU loops of the fused perturb kernel (at::parallel_for over element blocks or sample rows).
// The math is in csrc/rsmooth/; this file only decides who computes what.
#include <ATen/Parallel.h>

#include "../rsmooth/perturb.h"

namespace rsmooth {
namespace {

constexpr int64_t kBlocksPerTask = 1024;  // 4096 elements: amortises scheduling, keeps tasks small

template <class Family, OutDtype D>
void perturb_iid_cpu(const PerturbArgs& a, const Family& family) {
  const int64_t blocks_per_row = a.num_blocks();
  const int64_t total = a.num_rows() * blocks_per_row;
  at::parallel_for(0, total, kBlocksPerTask, [&](int64_t begin, int64_t end) {
    int64_t row = begin / blocks_per_row;
    int64_t block = begin - row * blocks_per_row;
    SampleStream stream = a.stream_of_row(row);
    for (int64_t t = begin; t < end; ++t) {
      perturb_iid_block<Family, D>(a, family, stream, row, block);
      if (++block == blocks_per_row && t + 1 < end) {
        block = 0;
        stream = a.stream_of_row(++row);
      }
    }
  });
}

template <Sphere S, OutDtype D>
void perturb_radial_cpu(const PerturbArgs& a) {
  const int64_t blocks_per_row = a.num_blocks();
  const int64_t grain = std::max<int64_t>(1, kBlocksPerTask / blocks_per_row);
  at::parallel_for(0, a.num_rows(), grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const SampleStream stream = a.stream_of_row(row);
      const RadialDraw draw = draw_radial(a.kind, a.params, a.numel, stream);
      double norm_sum = 0.0;
      if (S != Sphere::Linf) {
        for (int64_t block = 0; block < blocks_per_row; ++block) {
          norm_sum += radial_norm_block<S>(a, stream, block);
        }
      }
      const float scale = direction_scale<S>(draw.radius, norm_sum);
      for (int64_t block = 0; block < blocks_per_row; ++block) {
        radial_write_block<S, D>(a, stream, draw, scale, row, block);
      }
    }
  });
}

}  // namespace

void perturb_cpu(const PerturbArgs& a) {
  if (a.num_rows() == 0 || a.numel == 0) return;
  dispatch_out_dtype(a.out_dtype, [&](auto dtype) {
    constexpr OutDtype D = decltype(dtype)::value;
    const bool iid = dispatch_iid_family(a.kind, a.params, [&](const auto& family) {
      perturb_iid_cpu<std::decay_t<decltype(family)>, D>(a, family);
    });
    if (!iid) {
      dispatch_sphere(sphere_of(a.kind), [&](auto sphere) {
        perturb_radial_cpu<decltype(sphere)::value, D>(a);
      });
    }
  });
}

void philox_cpu(const uint32_t* counters, int64_t n, const uint32_t key[2], uint32_t* out) {
  for (int64_t i = 0; i < n; ++i) philox4x32_10(counters + 4 * i, key, out + 4 * i);
}

}  // namespace rsmooth
