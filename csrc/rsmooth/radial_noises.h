// The radial families' rules: a sphere and a radius law each (radial.h). The rule interface is in noise.h.
#pragma once

#include "noise_params.h"
#include "radial.h"

namespace rsmooth {

// [lambda, k(, j)]: density ~ ||x||_inf^-j exp(-(||x||_inf / lambda)^k), r^k ~ Gamma((d - j)/k, rate lambda^-k);
// j = 0 when absent: the j-free family, bit for bit.
struct ExpInfNoise {
  static constexpr const char* kName = "expinf";
  static constexpr Sphere kSphere = Sphere::Linf;
  double lambda, k, j;
  RSMOOTH_HD explicit ExpInfNoise(const NoiseParams& p) : lambda(p.v[0]), k(p.v[1]), j(p.v[2]) {}

  template <class Check>
  static void check_params(const Check& c) {
    c.count(2, 3);
    c.positive(0, "scale lambda");
    c.positive(1, "shape k");
    if (c.given() == 3) c.at_least(2, 0.0, "exponent j");
    c.below_dim(c[2], "exponent j");
  }

  RSMOOTH_HDI double radius(const SampleStream& stream, const uint32_t choice[4], int64_t d) const {
    return gamma_radius(stream, choice, lambda, k, (static_cast<double>(d) - j) / k);
  }
};

// [lambda, k]: density ~ exp(-(||x||_1 / lambda)^k), r^k ~ Gamma(d/k, rate lambda^-k).
struct Exp1Noise {
  static constexpr const char* kName = "exp1";
  static constexpr Sphere kSphere = Sphere::L1;
  double lambda, k;
  RSMOOTH_HD explicit Exp1Noise(const NoiseParams& p) : lambda(p.v[0]), k(p.v[1]) {}

  template <class Check>
  static void check_params(const Check& c) {
    c.count(2, 2);
    c.positive(0, "scale lambda");
    c.positive(1, "shape k");
  }

  RSMOOTH_HDI double radius(const SampleStream& stream, const uint32_t choice[4], int64_t d) const {
    return gamma_radius(stream, choice, lambda, k, static_cast<double>(d) / k);
  }
};

// [lambda, k(, j)]: density ~ ||x||_2^-j exp(-(||x||_2 / lambda)^k), r^k ~ Gamma((d - j)/k, rate lambda^-k).
struct Exp2Noise {
  static constexpr const char* kName = "exp2";
  static constexpr Sphere kSphere = Sphere::L2;
  double lambda, k, j;
  RSMOOTH_HD explicit Exp2Noise(const NoiseParams& p) : lambda(p.v[0]), k(p.v[1]), j(p.v[2]) {}

  template <class Check>
  static void check_params(const Check& c) {
    c.count(2, 3);
    c.positive(0, "scale lambda");
    c.positive(1, "shape k");
    if (c.given() == 3) c.at_least(2, 0.0, "exponent j");
    c.below_dim(c[2], "exponent j");
  }

  RSMOOTH_HDI double radius(const SampleStream& stream, const uint32_t choice[4], int64_t d) const {
    return gamma_radius(stream, choice, lambda, k, (static_cast<double>(d) - j) / k);
  }
};

// [lambda]: uniform in the l_2 ball of radius lambda, r = lambda * U^(1/d).
struct UniformBallNoise {
  static constexpr const char* kName = "uniformball";
  static constexpr Sphere kSphere = Sphere::L2;
  double lambda;
  RSMOOTH_HD explicit UniformBallNoise(const NoiseParams& p) : lambda(p.v[0]) {}

  template <class Check>
  static void check_params(const Check& c) {
    c.count(1, 1);
    c.positive(0, "scale lambda");
  }

  RSMOOTH_HDI double radius(const SampleStream&, const uint32_t choice[4], int64_t d) const {
    return ball_radius(choice, lambda, d);
  }
};

// [lambda, a]: density ~ (1 + ||x||_inf / lambda)^-a, r / lambda ~ BetaPrime(d, a - d) (the k = 1 case of
// beta_prime_radius).
struct PowInfNoise {
  static constexpr const char* kName = "powinf";
  static constexpr Sphere kSphere = Sphere::Linf;
  double lambda, a;
  RSMOOTH_HD explicit PowInfNoise(const NoiseParams& p) : lambda(p.v[0]), a(p.v[1]) {}

  template <class Check>
  static void check_params(const Check& c) {
    c.count(2, 2);
    c.positive(0, "scale lambda");
    c.positive(1, "exponent a");
    c.above_dim(c[1], "exponent a");  // a proper law: a - d > 0
  }

  RSMOOTH_HDI double radius(const SampleStream& stream, const uint32_t choice[4], int64_t d) const {
    return beta_prime_radius(stream, choice, lambda, 1.0, a, d);
  }
};

// [lambda, k, a]: density ~ (1 + (||x||_2 / lambda)^k)^-a, (r / lambda)^k ~ BetaPrime(d/k, a - d/k).
struct Pow2Noise {
  static constexpr const char* kName = "pow2";
  static constexpr Sphere kSphere = Sphere::L2;
  double lambda, k, a;
  RSMOOTH_HD explicit Pow2Noise(const NoiseParams& p) : lambda(p.v[0]), k(p.v[1]), a(p.v[2]) {}

  template <class Check>
  static void check_params(const Check& c) {
    c.count(3, 3);
    c.positive(0, "scale lambda");
    c.positive(1, "shape k");
    c.positive(2, "exponent a");
    c.above_dim(c[2] * c[1], "a * k");  // a proper law: a - d/k > 0
  }

  RSMOOTH_HDI double radius(const SampleStream& stream, const uint32_t choice[4], int64_t d) const {
    return beta_prime_radius(stream, choice, lambda, k, a, d);
  }
};

}  // namespace rsmooth
