// Transforms from uniform 32-bit words to the laws the noise families need. One formula per law,
// shared by the CPU and CUDA kernels; float laws use the polynomials of fastmath.h, the per-sample
// gamma radius uses double-precision libm / CUDA math (no fast-math anywhere).
#pragma once

#include <cmath>

#include "counter.h"
#include "fastmath.h"

namespace rsmooth {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// Uniform in (0, 1]: never 0, so log() is always finite. 31 bits through a signed conversion (which
// vectorises on every x86 level); resolution 2^-31, smallest value 2^-32.
RSMOOTH_HDI float u01f(uint32_t w) {
  return static_cast<float>(static_cast<int32_t>(w >> 1)) * 0x1p-31f + 0x1p-32f;
}
RSMOOTH_HDI double u01d(uint32_t w) { return static_cast<double>(w) * 0x1p-32 + 0x1p-33; }

// Uniform in (0, 1] from the low 31 bits (the top bit is used as a sign elsewhere).
RSMOOTH_HDI float u01f_31(uint32_t w) {
  return static_cast<float>(static_cast<int32_t>(w & 0x7fffffffu)) * 0x1p-31f + 0x1p-32f;
}

// Symmetric uniform in (-1, 1).
RSMOOTH_HDI float uniform_pm1(uint32_t w) { return 2.0f * u01f(w) - 1.0f; }

// Sign (+1 / -1) from the top bit.
RSMOOTH_HDI float sign_from_top_bit(uint32_t w) { return (w >> 31) ? -1.0f : 1.0f; }

// Standard exponential magnitude from the low 31 bits.
RSMOOTH_HDI float exponential_31(uint32_t w) { return -log_pos(u01f_31(w)); }

// Unit double exponential: exponential magnitude (low 31 bits) with a random sign (top bit).
RSMOOTH_HDI float laplace_unit(uint32_t w) { return sign_from_top_bit(w) * exponential_31(w); }

// Box-Muller: two words -> two independent standard normals.
RSMOOTH_HDI void normal_pair(uint32_t a, uint32_t b, float* z0, float* z1) {
  const float radius = sqrtf(-2.0f * log_pos(u01f(a)));
  float s, c;
  sincos_2pi(u01f(b), &s, &c);
  *z0 = radius * c;
  *z1 = radius * s;
}

RSMOOTH_HDI double normal_d(uint32_t a, uint32_t b) {
  return sqrt(-2.0 * log(u01d(a))) * cos(kTwoPi * u01d(b));
}

// Uniform integer in [0, n) from 64 random bits: floor(r * n / 2^64); bias at most n / 2^64.
RSMOOTH_HDI uint64_t uniform_index(uint32_t lo, uint32_t hi, uint64_t n) {
  const uint64_t r = (static_cast<uint64_t>(hi) << 32) | lo;
#if defined(__CUDA_ARCH__)
  return __umul64hi(r, n);
#else
  return static_cast<uint64_t>((static_cast<unsigned __int128>(r) * n) >> 64);
#endif
}

constexpr int kGammaMaxAttempts = 1024;

// log of a Gamma(shape, 1) draw, by Marsaglia and Tsang's squeeze-free rejection method
// ("A simple method for generating gamma variables", 2000) in double precision. Attempt t uses
// block t of the sample's `purpose` stream (kPurposeRadius; another purpose for a second, independent
// gamma of the same sample); the acceptance rate is above 95% for every shape >= 1, so the attempt
// cap is never reached in practice (NaN is returned if it is, and the caller's NaN check reports it).
// Shapes below 1 use the boost Gamma(a) = Gamma(a + 1) * U^(1/a), with U from `boost`.
RSMOOTH_HDI double log_gamma_draw(const SampleStream& stream, double shape, uint32_t boost,
                                  Purpose purpose = kPurposeRadius) {
  const double a = shape < 1.0 ? shape + 1.0 : shape;
  const double dd = a - 1.0 / 3.0;
  const double c = 1.0 / sqrt(9.0 * dd);
  for (int attempt = 0; attempt < kGammaMaxAttempts; ++attempt) {
    uint32_t w[4];
    stream.draw(static_cast<uint32_t>(attempt), purpose, w);
    const double x = normal_d(w[0], w[1]);
    const double t = 1.0 + c * x;
    if (t <= 0.0) continue;
    const double v = t * t * t;
    const double log_v = log(v);
    if (log(u01d(w[2])) < 0.5 * x * x + dd - dd * v + dd * log_v) {
      double log_g = log(dd) + log_v;
      if (shape < 1.0) log_g += log(u01d(boost)) / shape;
      return log_g;
    }
  }
  return NAN;
}

}  // namespace rsmooth
