// Branch-free float versions of log, sincos(2 pi u) and expm1, accurate to a few ulp. They are our own
// (not libm / CUDA math) so that (1) the CPU loops vectorise (libm calls block the vectoriser) and
// (2) the CPU and CUDA kernels evaluate the very same polynomials. Polynomials use explicit fused
// multiply-adds (fmaf: one instruction on every GPU and on x86 since AVX2, correctly rounded in software
// elsewhere), so every build rounds them identically; the compilers contract nothing else.
#pragma once

#include <cmath>

#include "store.h"  // float_bits / bits_float

namespace rsmooth {

constexpr float kLn2Hi = 0.693145751953125f;      // high bits of ln 2 (exact product with small ints)
constexpr float kLn2Lo = 1.42860676533018690e-06f;  // ln 2 - kLn2Hi
constexpr float kHalfPiF = 1.57079632679489662f;

RSMOOTH_HDI float fmadd(float a, float b, float c) { return fmaf(a, b, c); }

// Round to the nearest integer (ties to even) for |x| < 2^22, by the 1.5 * 2^23 shifter: plain float
// adds, so it vectorises everywhere (rintf may not be inlined).
RSMOOTH_HDI float round_nearest(float x) {
  constexpr float kShifter = 12582912.0f;
  return (x + kShifter) - kShifter;
}

// Natural log of a positive normal float: x = 2^e * m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| < 0.172, series to s^9 (truncation < 2e-9 relative).
RSMOOTH_HDI float log_pos(float x) {
  const uint32_t bits = float_bits(x);
  int32_t e = static_cast<int32_t>(bits >> 23) - 127;
  uint32_t mbits = (bits & 0x007fffffu) | 0x3f800000u;
  const bool halve = mbits > 0x3fb504f3u;  // m > sqrt(2)
  mbits = halve ? mbits - 0x00800000u : mbits;
  e = halve ? e + 1 : e;
  const float m = bits_float(mbits);
  const float f = m - 1.0f;
  const float s = f / (m + 1.0f);
  const float s2 = s * s;
  float poly = fmadd(s2, 0.22222222222f, 0.28571428571f);
  poly = fmadd(s2, poly, 0.4f);
  poly = fmadd(s2, poly, 0.66666666666f);
  poly *= s2;
  const float ef = static_cast<float>(e);
  const float tail = 2.0f * s + fmadd(s, poly, ef * kLn2Lo);
  return fmadd(ef, kLn2Hi, tail);  // ef * kLn2Hi is exact
}

// sin(2 pi u) and cos(2 pi u) for u in [0, 1]: reduce to the nearest quarter turn k and a remainder
// angle a in [-pi/4, pi/4] (both exact in float), Taylor polynomials on a, then rotate by k quarters.
RSMOOTH_HDI void sincos_2pi(float u, float* sin_out, float* cos_out) {
  const float q = 4.0f * u;
  const float k = round_nearest(q);
  const float a = (q - k) * kHalfPiF;
  const float a2 = a * a;
  float sp = fmadd(a2, -2.50521083854e-8f, 2.75573192240e-6f);
  sp = fmadd(a2, sp, -1.98412698413e-4f);
  sp = fmadd(a2, sp, 8.33333333333e-3f);
  sp = fmadd(a2, sp, -1.66666666667e-1f);
  const float sa = fmadd(a * a2, sp, a);
  float cp = fmadd(a2, -2.75573192240e-7f, 2.48015873016e-5f);
  cp = fmadd(a2, cp, -1.38888888889e-3f);
  cp = fmadd(a2, cp, 4.16666666667e-2f);
  cp = fmadd(a2, cp, -0.5f);
  const float ca = fmadd(a2, cp, 1.0f);
  // Quarter turns: k = 1, 3 swap sin and cos; k = 2, 3 negate sin; k = 1, 2 negate cos. Written with
  // exact 0/1 float masks instead of branches so the loops vectorise.
  const int quadrant = static_cast<int>(k) & 3;
  const float swap = static_cast<float>(quadrant & 1);
  const float keep = 1.0f - swap;
  const float s_sign = 1.0f - static_cast<float>(quadrant & 2);
  const float c_sign = 1.0f - static_cast<float>((quadrant + 1) & 2);
  *sin_out = s_sign * (keep * sa + swap * ca);
  *cos_out = c_sign * (keep * ca + swap * sa);
}

// exp(r) and n for x = n ln 2 + r, n the nearest integer to x / ln 2 and |r| <= ln(2)/2 (|x| < 2^21):
// the shared core of expm1_nonneg and exp_float, a degree-7 polynomial on r.
RSMOOTH_HDI float exp_reduced(float x, float* n_out) {
  const float n = round_nearest(x * 1.44269504089f);
  const float r = fmadd(-n, kLn2Lo, fmadd(-n, kLn2Hi, x));  // n * kLn2Hi is exact
  float ep = fmadd(r, 1.98412698413e-4f, 1.38888888889e-3f);
  ep = fmadd(r, ep, 8.33333333333e-3f);
  ep = fmadd(r, ep, 4.16666666667e-2f);
  ep = fmadd(r, ep, 1.66666666667e-1f);
  ep = fmadd(r, ep, 0.5f);
  ep = fmadd(r, ep, 1.0f);
  *n_out = n;
  return fmadd(r, ep, 1.0f);
}

// exp(x) - 1 for x >= 0 (inf past float range): Taylor series below 0.5 (no cancellation), else
// 2^n * exp(r) - 1 with x = n ln 2 + r, |r| <= ln(2)/2.
RSMOOTH_HDI float expm1_nonneg(float x) {
  float sp = fmadd(x, 2.48015873016e-5f, 1.98412698413e-4f);
  sp = fmadd(x, sp, 1.38888888889e-3f);
  sp = fmadd(x, sp, 8.33333333333e-3f);
  sp = fmadd(x, sp, 4.16666666667e-2f);
  sp = fmadd(x, sp, 1.66666666667e-1f);
  sp = fmadd(x, sp, 0.5f);
  sp = fmadd(x, sp, 1.0f);
  const float small = x * sp;
  const float xc = x < 88.0f ? x : 88.0f;
  float n;
  const float er = exp_reduced(xc, &n);
  const float scale = bits_float(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  const float finite = fmadd(er, scale, -1.0f);  // computed unconditionally: a select, not a branch
  const float large = x < 88.0f ? finite : bits_float(0x7f800000u);
  return x < 0.5f ? small : large;
}

}  // namespace rsmooth
