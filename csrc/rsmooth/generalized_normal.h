// Expp, the i.i.d. generalized normal: density ~ exp(-|x / lambda|^p) per element. |eps_j| / lambda =
// G^(1/p) with G ~ Gamma(1/p), drawn per element by Marsaglia and Tsang's rejection method in float
// (the vectorisable counterpart of log_gamma_draw in distributions.h), with a random sign.
//
// Random words of element j (the RNG contract, counter.h):
//   * its element word (purpose kPurposeElements, word j % 4 of block j / 4): the sign (top bit) and,
//     for 1/p < 1, the boost uniform U of Gamma(a) = Gamma(a + 1) U^(1/a) (low 31 bits);
//   * attempt pair q (q = 0 .. kExppPairs - 1): the block (q << 28) | j of purpose kPurposeElementGamma.
//     Its words w0, w1 give two normals (Box-Muller), w2 and w3 the two acceptance uniforms: two attempts
//     per block.
//
// Bounded rejection: attempt pair 0 is computed for every element of a span without branches (the loop
// vectorises); the elements whose two attempts were both rejected go through pairs 1 .. kExppPairs - 1 in
// a scalar loop that stops at the first acceptance, so at most 2 * kExppPairs = 32 attempts per element.
// Each attempt is accepted with probability >= 0.9516 (the minimum over the shapes used, >= 1, is at
// shape 1, i.e. p = 1; p > 1 boosts to shape 1 + 1/p; 0.9817 at shape 2 (p = 1/2), 0.9938 at shape 5
// (p = 0.2): tests/test_noise_families.py::test_expp_acceptance_probability), so the fix-up loop runs for
// at most 0.24% of the elements and the bound is reached with probability <= 0.0484^32 < 1e-42 per
// element. At the bound the element is NaN (never a biased value), which the sampler's non-finite check
// reports.
#pragma once

#include "distributions.h"
#include "noise_params.h"

namespace rsmooth {

constexpr int kExppPairs = 16;          // attempt pairs per element: q fits the 4 bits above bit 28
constexpr int kExppElementBits = 28;    // element index bits of the attempt block: rows of <= 2^28 elements
constexpr int64_t kExppMaxElements = int64_t{1} << kExppElementBits;

// exp(x) for finite float x: 0 below -103 (past the subnormals), inf above 88.8. x = n ln 2 + r with
// |r| <= ln(2)/2, a degree-7 polynomial for exp(r), then 2^n applied as two exact power-of-two factors
// (so subnormal results are right too). Branch-free.
RSMOOTH_HDI float exp_float(float x) {
  const float xc = x < -103.0f ? -103.0f : (x > 88.8f ? 88.8f : x);
  float n;
  const float er = exp_reduced(xc, &n);
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni / 2;  // |half|, |ni - half| <= 75: both factors are normal floats
  const float s1 = bits_float(static_cast<uint32_t>(half + 127) << 23);
  const float s2 = bits_float(static_cast<uint32_t>(ni - half + 127) << 23);
  const float value = (er * s1) * s2;
  return x < -103.0f ? 0.0f : (x > 88.8f ? bits_float(0x7f800000u) : value);
}

struct ExppNoise {
  static constexpr const char* kName = "expp";
  static constexpr int kGroup = 1;
  static constexpr bool kOwnDraws = true;  // needs the row's stream and element indices (iid_span)
  float log_lambda, inv_p, inv_shape, dd, c, log_dd;
  bool boosted;  // 1/p < 1: Gamma(1/p) = Gamma(1/p + 1) U^p

  // [lambda, p]. Below p = 0.1, G^(1/p) reaches the end of the float32 range; d is bounded by the element
  // bits of the attempt blocks.
  template <class Check>
  static void check_params(const Check& c) {
    c.count(2, 2);
    c.positive(0, "scale lambda");
    c.at_least(1, 0.1, "exponent p");
    c.dim_at_most(kExppMaxElements);
  }

  RSMOOTH_HD explicit ExppNoise(const NoiseParams& p) {
    const double shape = 1.0 / p.v[1];
    const double a = shape < 1.0 ? shape + 1.0 : shape;
    log_lambda = static_cast<float>(log(p.v[0]));
    inv_p = static_cast<float>(1.0 / p.v[1]);
    inv_shape = static_cast<float>(p.v[1]);
    dd = static_cast<float>(a - 1.0 / 3.0);
    c = static_cast<float>(1.0 / sqrt(9.0 * (a - 1.0 / 3.0)));
    log_dd = static_cast<float>(log(a - 1.0 / 3.0));
    boosted = shape < 1.0;
  }

  RSMOOTH_HDI static uint32_t attempt_block(int q, int64_t j) {
    return (static_cast<uint32_t>(q) << kExppElementBits) | static_cast<uint32_t>(j);
  }

  // One Marsaglia-Tsang attempt from a standard normal z and a uniform u in (0, 1]: accepted iff
  // t = 1 + c z > 0 and log u < z^2/2 + dd - dd t^3 + dd log t^3; then log(G / dd) = 3 log t.
  RSMOOTH_HDI bool attempt(float z, float u, float* log_v) const {
    const float t = fmadd(c, z, 1.0f);
    const bool positive = t > 0.0f;
    const float lt = 3.0f * log_pos(positive ? t : 1.0f);
    const float v = t * t * t;
    *log_v = lt;
    const bool below = log_pos(u) < fmadd(0.5f * z, z, dd - dd * v + dd * lt);
    return positive & below;  // no short circuit: straight-line code
  }

  // The two attempts of pair q of element j: log(G / dd) of the first accepted one; false if neither is.
  RSMOOTH_HDI bool attempt_pair(const SampleStream& stream, int q, int64_t j, float* log_v) const {
    uint32_t w[4];
    stream.draw(attempt_block(q, j), kPurposeElementGamma, w);
    float z0, z1, lv0, lv1;
    normal_pair(w[0], w[1], &z0, &z1);
    const bool ok0 = attempt(z0, u01f(w[2]), &lv0);
    const bool ok1 = attempt(z1, u01f(w[3]), &lv1);
    *log_v = ok0 ? lv0 : lv1;
    return ok0 || ok1;
  }

  // Pairs 1 .. kExppPairs - 1 (the rare path): NaN at the bound.
  RSMOOTH_HDI float retry(const SampleStream& stream, int64_t j) const {
    for (int q = 1; q < kExppPairs; ++q) {
      float log_v;
      if (attempt_pair(stream, q, j, &log_v)) return log_v;
    }
    return NAN;
  }

  // y = x + sign * lambda * G^(1/p) for the elements j0 .. j0+count-1 (their element words in `words`).
  // Pair 0's Philox blocks are computed round by round over a chunk of elements (like the CPU loop's
  // draw_words_tile), so that each loop below is straight-line code the compiler vectorises.
  RSMOOTH_HDI void apply_span(const SampleStream& stream, int64_t j0, const uint32_t* __restrict__ words,
                              const float* __restrict__ xin, float* __restrict__ y, int count) const {
    constexpr int kChunk = 16;
    const uint32_t tag = (stream.phase << kPhaseShift) | kPurposeElementGamma;
    for (int c0 = 0; c0 < count; c0 += kChunk) {
      const int n = count - c0 < kChunk ? count - c0 : kChunk;
      uint32_t w0[kChunk], w1[kChunk], w2[kChunk], w3[kChunk];
      for (int e = 0; e < n; ++e) {
        w0[e] = attempt_block(0, j0 + c0 + e);
        w1[e] = stream.sample;
        w2[e] = stream.input;
        w3[e] = tag;
      }
      uint32_t k0 = stream.key[0], k1 = stream.key[1];
      for (int round = 0; round < Philox4x32::kRounds; ++round) {
        for (int e = 0; e < n; ++e) philox_round(w0[e], w1[e], w2[e], w3[e], k0, k1);
        k0 += Philox4x32::kWeyl0;
        k1 += Philox4x32::kWeyl1;
      }
      float log_v[kChunk];
      int accepted[kChunk];
      for (int e = 0; e < n; ++e) {
        float z0, z1, lv0, lv1;
        normal_pair(w0[e], w1[e], &z0, &z1);
        const bool ok0 = attempt(z0, u01f(w2[e]), &lv0);
        const bool ok1 = attempt(z1, u01f(w3[e]), &lv1);
        log_v[e] = ok0 ? lv0 : lv1;
        accepted[e] = ok0 | ok1;
      }
      for (int e = 0; e < n; ++e) {
        if (!accepted[e]) log_v[e] = retry(stream, j0 + c0 + e);
      }
      const float boost_scale = boosted ? inv_shape : 0.0f;
      for (int e = 0; e < n; ++e) {
        const uint32_t w = words[c0 + e];
        const float log_g = fmadd(log_pos(u01f_31(w)), boost_scale, log_dd + log_v[e]);
        const float magnitude = exp_float(fmadd(log_g, inv_p, log_lambda));
        y[c0 + e] = xin[c0 + e] + sign_from_top_bit(w) * magnitude;
      }
    }
  }
};

}  // namespace rsmooth
