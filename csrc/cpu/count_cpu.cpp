// CPU loop of the fused argmax + histogram: parallel over inputs, each input's rows in order, so the
// counts are exact and need no atomics.
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>

#include "../rsmooth/argmax.h"

namespace rsmooth {

void argmax_count_cpu(const CountArgs& a) {
  if (a.num_rows == 0) return;
  const int64_t num_inputs = a.num_rows / a.rows_per_input;
  const int64_t counted = a.counted_rows();
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, a.rows_per_input * a.num_classes));
  dispatch_logit_dtype(a.dtype, [&](auto dtype) {
    constexpr LogitDtype D = decltype(dtype)::value;
    using Reader = LogitReader<D>;
    const int64_t element_size = D == LogitDtype::Float64 ? 8 : D == LogitDtype::Float32 ? 4 : 2;
    at::parallel_for(0, num_inputs, grain, [&](int64_t begin, int64_t end) {
      for (int64_t input = begin; input < end; ++input) {
        const int64_t last = std::min(counted, (input + 1) * a.rows_per_input);
        for (int64_t r = input * a.rows_per_input; r < last; ++r) {
          const void* row = static_cast<const char*>(a.logits) + r * a.row_stride * element_size;
          auto vote = empty_vote<typename Reader::Value>();
          for (int64_t k = 0; k < a.num_classes; ++k) vote.add(Reader::read(row, k), k);
          if (vote.valid) {
            ++a.counts[input * a.num_classes + vote.index];
          } else {
            ++a.invalid[input];
          }
        }
      }
    });
  });
}

}  // namespace rsmooth
