// The float parameters a noise family's rule is built from, in the op's order (each rule's check_params
// says how many it takes; absent optional ones are 0), and the op's table for the rules that take one
// (kUsesTable: the grid family's thresholds), in the kernel's memory.
#pragma once

#include <cstdint>

namespace rsmooth {

constexpr int kMaxNoiseParams = 4;
struct NoiseParams {
  double v[kMaxNoiseParams];
  const uint32_t* table = nullptr;
  int64_t table_length = 0;  // its length in words
};

}  // namespace rsmooth
