// The noise families: one rule (a struct) each, shared by the CPU and CUDA kernels, and the one list of
// them below, from which the kind index, the names, the name lookup, the parameter checks and the kernel
// dispatch derive. Adding a family: write its rule (iid_noises.h, radial_noises.h or a header of its own)
// and add it to NoiseFamilies; nothing else in csrc/ names it.
//
// A rule states:
//   static constexpr const char* kName   the family string of the op schema and of the Python specs;
//   static void check_params(const Check& c)   its parameter checks (param_check.h): how many, their ranges,
//                                        and the ranges that depend on d. They keep the raw op from
//                                        producing garbage; the Python specs check the same and more;
//   explicit Rule(const NoiseParams&)    the per-launch constants, computed on the host;
// and then either, for an i.i.d. family (perturb.h: iid_span),
//   static constexpr int kGroup + apply(words, x, y)   kGroup elements from their own words, or
//   static constexpr bool kOwnDraws + apply_span(...)  a span with draws of its own;
// (either may also state kUsesTable: it reads the op's table, NoiseParams::table);
// or, for a radial family (radial.h),
//   static constexpr Sphere kSphere + double radius(stream, choice, d)   the sphere and the radius law.
#pragma once

#include <cstring>
#include <type_traits>
#include <utility>

#include "generalized_normal.h"
#include "grid_noise.h"
#include "iid_noises.h"
#include "noise_params.h"
#include "radial_noises.h"

namespace rsmooth {

// A family's index in NoiseFamilies (the op maps the schema's family string to it once).
enum class NoiseKind : int {};

template <class... Rules>
struct NoiseFamilyList {
  static constexpr int kCount = sizeof...(Rules);
  static constexpr const char* kNames[kCount] = {Rules::kName...};

  // body(std::type_identity<Rule>{}) for the family `kind`; nothing for an index outside the list.
  template <class Body>
  static void visit(NoiseKind kind, Body&& body) {
    visit_indexed(static_cast<int>(kind), body, std::index_sequence_for<Rules...>{});
  }

 private:
  template <class Body, size_t... I>
  static void visit_indexed(int kind, Body& body, std::index_sequence<I...>) {
    ((kind == static_cast<int>(I) ? body(std::type_identity<Rules>{}) : void()), ...);
  }
};

// The families, in the order of the op's "known:" list.
using NoiseFamilies = NoiseFamilyList<GaussianNoise, LaplaceNoise, UniformNoise, LomaxNoise, MaskingNoise,
                                      ExpInfNoise, Exp1Noise, Exp2Noise, UniformBallNoise, PowInfNoise,
                                      Pow2Noise, ExppNoise, GridNoise>;

constexpr bool same_name(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}

constexpr bool names_are_distinct() {
  for (int i = 0; i < NoiseFamilies::kCount; ++i) {
    for (int j = 0; j < i; ++j) {
      if (same_name(NoiseFamilies::kNames[i], NoiseFamilies::kNames[j])) return false;
    }
  }
  return true;
}
static_assert(names_are_distinct(), "two noise rules share a kName");

// The kind of the family named `name`, or -1.
inline int noise_kind_from_name(const char* name) {
  for (int kind = 0; kind < NoiseFamilies::kCount; ++kind) {
    if (std::strcmp(name, NoiseFamilies::kNames[kind]) == 0) return kind;
  }
  return -1;
}

inline const char* noise_name(NoiseKind kind) { return NoiseFamilies::kNames[static_cast<int>(kind)]; }

// Runs the family's own parameter checks (one pass of `check`, see param_check.h).
template <class Check>
void check_noise_params(NoiseKind kind, const Check& check) {
  NoiseFamilies::visit(kind, [&](auto rule) { decltype(rule)::type::check_params(check); });
}

// Whether the family `kind` reads the op's table (kUsesTable: the grid family's thresholds).
inline bool noise_uses_table(NoiseKind kind) {
  bool uses = false;
  NoiseFamilies::visit(kind, [&](auto rule) { uses = requires { decltype(rule)::type::kUsesTable; }; });
  return uses;
}

// body(Rule(params)) for the family `kind`: the kernels are instantiated per rule.
template <class Body>
void dispatch_noise(NoiseKind kind, const NoiseParams& params, Body&& body) {
  NoiseFamilies::visit(kind, [&](auto rule) { body(typename decltype(rule)::type(params)); });
}

}  // namespace rsmooth
