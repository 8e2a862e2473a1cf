// What the radial families share: eps = r * u, r a per-sample radius drawn by the family's rule, u uniform
// on the unit l_inf / l_1 / l_2 sphere (the rule's kSphere). The direction, its normaliser and the l_inf
// face coordinate are the same for every rule on a sphere; the radius laws below are shared by rules too.
#pragma once

#include "distributions.h"

namespace rsmooth {

enum class Sphere : int { Linf = 0, L1 = 1, L2 = 2 };

// A radial rule: a sphere and `double radius(stream, choice, d) const`.
template <class Rule>
concept RadialRule = requires { Rule::kSphere; };

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

// Radius laws (d = elements per sample). `choice` is block 0 of the sample's choice stream: words 0-2 are
// the l_inf face (draw_radial), word 3 is the radius's own (a gamma boost or a uniform).

// r = lambda * z^(1/k), z ~ Gamma(shape, 1): r^k ~ Gamma(shape, rate lambda^-k).
RSMOOTH_HDI double gamma_radius(const SampleStream& stream, const uint32_t choice[4], double lambda, double k,
                                double shape) {
  return lambda * exp(log_gamma_draw(stream, shape, choice[3]) / k);
}

// r = lambda * t^(1/k), t ~ BetaPrime(d/k, a - d/k), drawn as t = G1 / G2 with independent G1 ~ Gamma(d/k)
// (radius stream, boost from choice block 0) and G2 ~ Gamma(a - d/k) (radius-denominator stream, boost from
// choice block 1).
RSMOOTH_HDI double beta_prime_radius(const SampleStream& stream, const uint32_t choice[4], double lambda,
                                     double k, double a, int64_t d) {
  const double alpha = static_cast<double>(d) / k;
  uint32_t choice2[4];
  stream.draw(1, kPurposeChoice, choice2);
  const double log_t = log_gamma_draw(stream, alpha, choice[3]) -
                       log_gamma_draw(stream, a - alpha, choice2[0], kPurposeRadiusDenominator);
  return lambda * exp(log_t / k);
}

// r = lambda * U^(1/d): uniform in the ball.
RSMOOTH_HDI double ball_radius(const uint32_t choice[4], double lambda, int64_t d) {
  return lambda * exp(log(u01d(choice[3])) / static_cast<double>(d));
}

template <RadialRule Rule>
RSMOOTH_HDI RadialDraw draw_radial(const Rule& rule, int64_t d, const SampleStream& stream) {
  uint32_t choice[4];
  stream.draw(0, kPurposeChoice, choice);
  RadialDraw draw;
  draw.radius = rule.radius(stream, choice, d);
  if constexpr (Rule::kSphere == Sphere::Linf) {
    draw.chosen = static_cast<int64_t>(uniform_index(choice[0], choice[1], static_cast<uint64_t>(d)));
    draw.chosen_sign = sign_from_top_bit(choice[2]);
  } else {
    draw.chosen = -1;
    draw.chosen_sign = 0.0f;
  }
  return draw;
}

}  // namespace rsmooth
