// The parameter checks a family's rule states about itself (Rule::check_params, see noise.h), and the one
// interface they report through. The op runs a rule's checks in two passes: first the parameters alone
// (how many, finite, in range), then, once the input's size is known, the ranges that depend on d (the
// elements per input); every check acts in its own pass, so the op reports problems in the same order for
// every family. A failure goes to `fail(message parts...)`, which the op turns into its ValueError
// (csrc/checks.h) and which does not return: this header stays torch-free, as nvcc compiles it too.
#pragma once

#include <cmath>
#include <cstdint>

#include "noise_params.h"

namespace rsmooth {

template <class Fail>
class ParamCheck {
 public:
  // `values[0 .. given)` as the op received them; `family` is the rule's name, quoted in the messages.
  ParamCheck(const char* family, const double* values, int64_t given, Fail fail)
      : family_(family), given_(given), fail_(fail), params_{} {
    for (int64_t i = 0; i < given && i < kMaxNoiseParams; ++i) params_.v[i] = values[i];
  }

  // Switches to the second pass: the checks that depend on d.
  void start_dim_pass(int64_t d) {
    dim_pass_ = true;
    d_ = d;
  }

  int64_t given() const { return given_; }
  // Parameter i; 0 past the given ones (the value the kernels see for an absent optional parameter).
  double operator[](int i) const { return params_.v[i]; }
  // What the kernels are built from, once both passes have passed.
  const NoiseParams& params() const { return params_; }

  // The family takes `least` to `most` parameters, each of them finite. First: the range checks index them.
  void count(int least, int most) const {
    if (dim_pass_) return;
    if (least == most && given_ != most) {
      fail_("family '", family_, "' takes ", most, " parameter(s), got ", given_);
    } else if (given_ < least || given_ > most) {
      fail_("family '", family_, "' takes ", least, " to ", most, " parameters, got ", given_);
    }
    for (int i = 0; i < given_; ++i) {
      if (!std::isfinite(params_.v[i])) {
        fail_("params[", i, "] of '", family_, "' must be finite, got ", params_.v[i]);
      }
    }
  }

  // params[i] > 0; `what` names it ("scale lambda").
  void positive(int i, const char* what) const {
    if (dim_pass_ || params_.v[i] > 0.0) return;
    fail_(what, " params[", i, "] of '", family_, "' must be > 0, got ", params_.v[i]);
  }

  // params[i] >= bound.
  void at_least(int i, double bound, const char* what) const {
    if (dim_pass_ || params_.v[i] >= bound) return;
    fail_(what, " params[", i, "] of '", family_, "' must be >= ", bound, ", got ", params_.v[i]);
  }

  // params[i] an integer in [lo, hi].
  void integer_in(int i, double lo, double hi, const char* what) const {
    const double v = params_.v[i];
    if (dim_pass_ || (v >= lo && v <= hi && v == std::floor(v))) return;
    fail_(what, " params[", i, "] of '", family_, "' must be an integer in [", lo, ", ", hi, "], got ", v);
  }

  // params[i] in (0, 1]; `what` names the family too ("... keep probability").
  void probability(int i, const char* what) const {
    if (dim_pass_ || (params_.v[i] > 0.0 && params_.v[i] <= 1.0)) return;
    fail_(what, " params[", i, "] must be in (0, 1], got ", params_.v[i]);
  }

  // value < d, for a value computed from the parameters; `what` names it ("exponent j").
  void below_dim(double value, const char* what) const {
    if (!dim_pass_ || value < static_cast<double>(d_)) return;
    fail_(what, " = ", value, " of '", family_, "' must be < d = ", d_, " (elements per input)");
  }

  // value > d.
  void above_dim(double value, const char* what) const {
    if (!dim_pass_ || value > static_cast<double>(d_)) return;
    fail_(what, " = ", value, " of '", family_, "' must be > d = ", d_, " (elements per input)");
  }

  // d <= most: a limit of the rule's own counter layout, not of its law.
  void dim_at_most(int64_t most) const {
    if (!dim_pass_ || d_ <= most) return;
    fail_("'", family_, "' supports at most ", most, " elements per input, got ", d_);
  }

 private:
  const char* family_;
  int64_t given_;
  Fail fail_;
  NoiseParams params_;
  bool dim_pass_ = false;
  int64_t d_ = 0;
};

}  // namespace rsmooth
