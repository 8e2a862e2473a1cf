// The noise families: one rule each, shared by the CPU and CUDA kernels. A family is named by a
// string in the op schema; noise_kind_from_name() maps it to NoiseKind, and the kernels are
// templated on the family struct (i.i.d. families) or on the sphere the radial family draws from.
#pragma once

#include <cstring>

#include "distributions.h"
#include "generalized_normal.h"
#include "noise_params.h"

namespace rsmooth {

enum class NoiseKind : int {
  Gaussian = 0,
  Laplace,
  Uniform,
  Lomax,
  Masking,
  ExpInf,
  Exp1,
  Exp2,
  UniformBall,
  PowInf,
  Pow2,
  Expp,
  Count
};

// Names as used by the op schema and the Python specs, indexed by NoiseKind.
constexpr const char* kNoiseNames[] = {"gaussian", "laplace", "uniform",     "lomax",  "masking",
                                       "expinf",   "exp1",    "exp2",        "uniformball",
                                       "powinf",   "pow2",    "expp"};
// Number of float parameters each family takes (at most; at least), indexed by NoiseKind. ExpInf and Exp2
// take an optional third one, j (0 when absent: the j-free family, bit for bit).
//   gaussian, laplace, uniform: [lambda]; lomax: [lambda, k]; masking: [keep]; uniformball: [lambda];
//   expinf, exp2: [lambda, k(, j)]; exp1: [lambda, k]; powinf: [lambda, a]; pow2: [lambda, k, a];
//   expp: [lambda, p].
constexpr int kNoiseParamCount[] = {1, 1, 1, 2, 1, 3, 2, 3, 1, 2, 3, 2};
constexpr int kNoiseParamMinCount[] = {1, 1, 1, 2, 1, 2, 2, 2, 1, 2, 3, 2};

inline int noise_kind_from_name(const char* name) {
  for (int kind = 0; kind < static_cast<int>(NoiseKind::Count); ++kind) {
    if (std::strcmp(name, kNoiseNames[kind]) == 0) return kind;
  }
  return -1;
}


// ---- i.i.d. families: x -> x + eps elementwise -----------------------------------------------------
// Element j of a sample uses word j % 4 of Philox block j / 4. A family consumes its words in groups of
// kGroup consecutive elements (Box-Muller pairs for the Gaussian, single words otherwise):
// apply(w, x, y) sets y[0..kGroup) from w[0..kGroup) and x[0..kGroup).

struct GaussianNoise {  // eps_j ~ N(0, lambda^2)
  static constexpr int kGroup = 2;
  float lambda;
  RSMOOTH_HD explicit GaussianNoise(const NoiseParams& p) : lambda(static_cast<float>(p.v[0])) {}
  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    float z0, z1;
    normal_pair(w[0], w[1], &z0, &z1);
    y[0] = x[0] + lambda * z0;
    y[1] = x[1] + lambda * z1;
  }
};

struct LaplaceNoise {  // eps_j ~ Laplace(0, lambda)
  static constexpr int kGroup = 1;
  float lambda;
  RSMOOTH_HD explicit LaplaceNoise(const NoiseParams& p) : lambda(static_cast<float>(p.v[0])) {}
  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = x[0] + lambda * laplace_unit(w[0]);
  }
};

struct UniformNoise {  // eps_j ~ U(-lambda, lambda)
  static constexpr int kGroup = 1;
  float lambda;
  RSMOOTH_HD explicit UniformNoise(const NoiseParams& p) : lambda(static_cast<float>(p.v[0])) {}
  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = x[0] + lambda * uniform_pm1(w[0]);
  }
};

// Symmetric Lomax: |eps_j| = lambda * (U^(-1/k) - 1) (Pareto II, survival (1 + r/lambda)^-k),
// written as lambda * expm1(E / k) with E = -log U standard exponential; random sign.
struct LomaxNoise {
  static constexpr int kGroup = 1;
  float lambda, inv_k;
  RSMOOTH_HD explicit LomaxNoise(const NoiseParams& p)
      : lambda(static_cast<float>(p.v[0])), inv_k(static_cast<float>(1.0 / p.v[1])) {}
  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = x[0] + sign_from_top_bit(w[0]) * lambda * expm1_nonneg(exponential_31(w[0]) * inv_k);
  }
};

// Masking: coordinate kept with probability `keep`, else set to 0 (eps_j = -x_j): kept iff
// w < keep * 2^32 (exact: the threshold is an integer up to 2^32).
struct MaskingNoise {
  static constexpr int kGroup = 1;
  uint64_t threshold;
  RSMOOTH_HD explicit MaskingNoise(const NoiseParams& p)
      : threshold(static_cast<uint64_t>(ceil(p.v[0] * 4294967296.0))) {}
  RSMOOTH_HDI void apply(const uint32_t* w, const float* x, float* y) const {
    y[0] = static_cast<uint64_t>(w[0]) < threshold ? x[0] : 0.0f;
  }
};

// ---- radial families: eps = r * u, r a per-sample radius, u on the unit l_inf / l_1 / l_2 sphere --

enum class Sphere : int { Linf = 0, L1 = 1, L2 = 2 };

RSMOOTH_HDI Sphere sphere_of(NoiseKind kind) {
  switch (kind) {
    case NoiseKind::ExpInf:
    case NoiseKind::PowInf: return Sphere::Linf;
    case NoiseKind::Exp1: return Sphere::L1;
    default: return Sphere::L2;  // Exp2, UniformBall, Pow2
  }
}

// Unnormalised direction coordinates, in groups like the i.i.d. families: uniform on (-1, 1) (l_inf:
// the cube's surface point is fixed up by the chosen coordinate), signed exponentials (l_1: Dirichlet(1)
// with random signs after normalisation) or standard normals (l_2: isotropic after normalisation).
template <Sphere S>
struct Direction {
  static constexpr int kGroup = S == Sphere::L2 ? 2 : 1;
  RSMOOTH_HDI static void apply(const uint32_t* w, float* raw) {
    if (S == Sphere::Linf) {
      raw[0] = uniform_pm1(w[0]);
    } else if (S == Sphere::L1) {
      raw[0] = laplace_unit(w[0]);
    } else {
      normal_pair(w[0], w[1], &raw[0], &raw[1]);
    }
  }
};

// The per-sample normaliser's summand: |u_j| for l_1, u_j^2 for l_2 (l_inf needs none).
template <Sphere S>
RSMOOTH_HDI double norm_term(float raw) {
  return S == Sphere::L1 ? static_cast<double>(fabsf(raw)) : static_cast<double>(raw) * raw;
}

template <Sphere S>
RSMOOTH_HDI float direction_scale(double radius, double norm_sum) {
  if (S == Sphere::Linf) return static_cast<float>(radius);
  if (S == Sphere::L1) return static_cast<float>(radius / norm_sum);
  return static_cast<float>(radius / sqrt(norm_sum));
}

// What a radial sample needs besides its elements: the radius and, for l_inf, the coordinate
// set to +-r. Drawn from the sample's radius and choice streams.
struct RadialDraw {
  double radius;
  int64_t chosen;      // l_inf: index of the coordinate on the cube's face; -1 otherwise
  float chosen_sign;   // l_inf: its sign
};

// Radius laws (d = elements per sample):
//   ExpInf / Exp2 (params lambda, k, j = 0 if absent), Exp1 (lambda, k): r = lambda * z^(1/k),
//     z ~ Gamma((d - j)/k, 1), i.e. r^k ~ Gamma(shape (d - j)/k, rate lambda^-k);
//   PowInf (lambda, a; k = 1) and Pow2 (lambda, k, a): r = lambda * t^(1/k), t ~ BetaPrime(d/k, a - d/k),
//     drawn as t = G1 / G2 with independent G1 ~ Gamma(d/k) (radius stream, boost from choice block 0) and
//     G2 ~ Gamma(a - d/k) (radius-denominator stream, boost from choice block 1);
//   UniformBall (lambda): r = lambda * U^(1/d).
RSMOOTH_HDI RadialDraw draw_radial(NoiseKind kind, const NoiseParams& p, int64_t d,
                                   const SampleStream& stream) {
  uint32_t extra[4];
  stream.draw(0, kPurposeChoice, extra);
  RadialDraw draw;
  const double lambda = p.v[0];
  if (kind == NoiseKind::UniformBall) {
    draw.radius = lambda * exp(log(u01d(extra[3])) / static_cast<double>(d));
  } else if (kind == NoiseKind::PowInf || kind == NoiseKind::Pow2) {
    const double k = kind == NoiseKind::PowInf ? 1.0 : p.v[1];
    const double a = kind == NoiseKind::PowInf ? p.v[1] : p.v[2];
    const double alpha = static_cast<double>(d) / k;
    uint32_t extra2[4];
    stream.draw(1, kPurposeChoice, extra2);
    const double log_t = log_gamma_draw(stream, alpha, extra[3]) -
                         log_gamma_draw(stream, a - alpha, extra2[0], kPurposeRadiusDenominator);
    draw.radius = lambda * exp(log_t / k);
  } else {
    const double k = p.v[1];
    const double shape = (static_cast<double>(d) - p.v[2]) / k;  // p.v[2] = j, 0 for the j-free families
    draw.radius = lambda * exp(log_gamma_draw(stream, shape, extra[3]) / k);
  }
  if (sphere_of(kind) == Sphere::Linf) {
    draw.chosen = static_cast<int64_t>(uniform_index(extra[0], extra[1], static_cast<uint64_t>(d)));
    draw.chosen_sign = sign_from_top_bit(extra[2]);
  } else {
    draw.chosen = -1;
    draw.chosen_sign = 0.0f;
  }
  return draw;
}

}  // namespace rsmooth
