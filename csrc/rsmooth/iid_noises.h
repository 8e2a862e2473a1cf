// The i.i.d. families' rules: x -> x + eps elementwise, eps_j drawn from the element's own word(s).
// Element j of a sample uses word j % 4 of Philox block j / 4. A family consumes its words in groups of
// kGroup consecutive elements (Box-Muller pairs for the Gaussian, single words otherwise):
// apply(w, x, y) sets y[0..kGroup) from w[0..kGroup) and x[0..kGroup). The rule interface is in noise.h.
#pragma once

#include "distributions.h"
#include "noise_params.h"

namespace rsmooth {

struct GaussianNoise {  // eps_j ~ N(0, lambda^2)
  static constexpr const char* kName = "gaussian";
  static constexpr int kGroup = 2;
  float lambda;
  RSMOOTH_HD explicit GaussianNoise(const NoiseParams& p) : lambda(static_cast<float>(p.v[0])) {}

  template <class Check>
  static void check_params(const Check& c) {  // [lambda]
    c.count(1, 1);
    c.positive(0, "scale lambda");
  }

  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    float z0, z1;
    normal_pair(w[0], w[1], &z0, &z1);
    y[0] = x[0] + lambda * z0;
    y[1] = x[1] + lambda * z1;
  }
};

struct LaplaceNoise {  // eps_j ~ Laplace(0, lambda)
  static constexpr const char* kName = "laplace";
  static constexpr int kGroup = 1;
  float lambda;
  RSMOOTH_HD explicit LaplaceNoise(const NoiseParams& p) : lambda(static_cast<float>(p.v[0])) {}

  template <class Check>
  static void check_params(const Check& c) {  // [lambda]
    c.count(1, 1);
    c.positive(0, "scale lambda");
  }

  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = x[0] + lambda * laplace_unit(w[0]);
  }
};

struct UniformNoise {  // eps_j ~ U(-lambda, lambda)
  static constexpr const char* kName = "uniform";
  static constexpr int kGroup = 1;
  float lambda;
  RSMOOTH_HD explicit UniformNoise(const NoiseParams& p) : lambda(static_cast<float>(p.v[0])) {}

  template <class Check>
  static void check_params(const Check& c) {  // [lambda]
    c.count(1, 1);
    c.positive(0, "scale lambda");
  }

  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = x[0] + lambda * uniform_pm1(w[0]);
  }
};

// Symmetric Lomax: |eps_j| = lambda * (U^(-1/k) - 1) (Pareto II, survival (1 + r/lambda)^-k),
// written as lambda * expm1(E / k) with E = -log U standard exponential; random sign.
struct LomaxNoise {
  static constexpr const char* kName = "lomax";
  static constexpr int kGroup = 1;
  float lambda, inv_k;
  RSMOOTH_HD explicit LomaxNoise(const NoiseParams& p)
      : lambda(static_cast<float>(p.v[0])), inv_k(static_cast<float>(1.0 / p.v[1])) {}

  template <class Check>
  static void check_params(const Check& c) {  // [lambda, k]
    c.count(2, 2);
    c.positive(0, "scale lambda");
    c.positive(1, "shape k");
  }

  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = x[0] + sign_from_top_bit(w[0]) * lambda * expm1_nonneg(exponential_31(w[0]) * inv_k);
  }
};

// Masking: coordinate kept with probability `keep`, else set to 0 (eps_j = -x_j): kept iff
// w < keep * 2^32 (exact: the threshold is an integer up to 2^32).
struct MaskingNoise {
  static constexpr const char* kName = "masking";
  static constexpr int kGroup = 1;
  uint64_t threshold;
  RSMOOTH_HD explicit MaskingNoise(const NoiseParams& p)
      : threshold(static_cast<uint64_t>(ceil(p.v[0] * 4294967296.0))) {}

  template <class Check>
  static void check_params(const Check& c) {  // [keep]
    c.count(1, 1);
    c.probability(0, "masking keep probability");
  }

  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = static_cast<uint64_t>(w[0]) < threshold ? x[0] : 0.0f;
  }
};

}  // namespace rsmooth
