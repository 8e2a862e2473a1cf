// The float parameters a noise family's rule is built from (see kNoiseParamCount in noise.h).
#pragma once

namespace rsmooth {

constexpr int kMaxNoiseParams = 4;
struct NoiseParams {
  double v[kMaxNoiseParams];
};

}  // namespace rsmooth
