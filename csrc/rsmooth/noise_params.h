// The float parameters a noise family's rule is built from, in the op's order (each rule's check_params
// says how many it takes; absent optional ones are 0).
#pragma once

namespace rsmooth {

constexpr int kMaxNoiseParams = 4;
struct NoiseParams {
  double v[kMaxNoiseParams];
};

}  // namespace rsmooth
