// Fused argmax + histogram: the vote of one row of logits, shared by the CPU and CUDA count kernels.
// Ties go to the lowest index (like torch.argmax); a row with any NaN or infinite logit is not a vote
// but is tallied as invalid, so the caller can report it instead of counting it silently.
#pragma once

#include <cmath>
#include <type_traits>

#include "store.h"

namespace rsmooth {

enum class LogitDtype : int { Float32 = 0, Float16 = 1, BFloat16 = 2, Float64 = 3 };

RSMOOTH_HDI float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return bits_float(sign | 0x7f800000u | (mantissa << 13));  // inf / NaN
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

RSMOOTH_HDI float bfloat16_bits_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

// Logit k of a row, widened without rounding (double for float64 logits, float otherwise).
template <LogitDtype D>
struct LogitReader {
  using Value = typename std::conditional<D == LogitDtype::Float64, double, float>::type;
  RSMOOTH_HDI static Value read(const void* row, int64_t k) {
    if (D == LogitDtype::Float32) return static_cast<const float*>(row)[k];
    if (D == LogitDtype::Float64) return static_cast<Value>(static_cast<const double*>(row)[k]);
    if (D == LogitDtype::Float16) return half_bits_to_float(static_cast<const uint16_t*>(row)[k]);
    return bfloat16_bits_to_float(static_cast<const uint16_t*>(row)[k]);
  }
};

// Finite (not NaN, not +-inf), by the exponent bits: the same on host and device.
RSMOOTH_HDI bool is_finite_value(float v) { return (float_bits(v) & 0x7f800000u) != 0x7f800000u; }
RSMOOTH_HDI bool is_finite_value(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof(u));
  return (u & 0x7ff0000000000000ull) != 0x7ff0000000000000ull;
}

template <class Value>
struct Vote {
  Value best;
  int64_t index;
  bool valid;

  // Fold in logit `value` at position `k`: strictly greater wins, ties keep the lower index.
  RSMOOTH_HDI void add(Value value, int64_t k) {
    if (!is_finite_value(value)) valid = false;
    if (value > best || (value == best && k < index)) {
      best = value;
      index = k;
    }
  }

  // Combine two partial votes over disjoint positions (the CUDA warp reduction).
  RSMOOTH_HDI void merge(const Vote& other) {
    valid = valid && other.valid;
    if (other.index >= 0 && (index < 0 || other.best > best || (other.best == best && other.index < index))) {
      best = other.best;
      index = other.index;
    }
  }
};

template <class Value>
RSMOOTH_HDI Vote<Value> empty_vote() {
  return Vote<Value>{static_cast<Value>(-INFINITY), -1, true};
}

// Arguments of the count kernels: logits (num_rows, K) with a row stride, rows of input i are
// i * rows_per_input ... (i + 1) * rows_per_input - 1; counts (num_inputs, K) and invalid (num_inputs).
// Only the first counted_rows() rows vote.
struct CountArgs {
  const void* logits;
  int64_t row_stride;  // elements
  int64_t num_rows;
  int64_t num_classes;
  int64_t rows_per_input;
  LogitDtype dtype;
  int64_t* counts;
  int64_t* invalid;
  // Rows r < *num_valid_rows are counted, the rest (padding of a fixed-shape batch) are not; nullptr: all.
  // Read in the kernel's memory (on the device for CUDA: no host synchronisation, CUDA-graph safe).
  const int64_t* num_valid_rows = nullptr;

  RSMOOTH_HDI int64_t counted_rows() const {
    if (num_valid_rows == nullptr) return num_rows;
    const int64_t v = *num_valid_rows;
    return v < 0 ? 0 : v < num_rows ? v : num_rows;
  }
};

template <class Body>
inline void dispatch_logit_dtype(LogitDtype dtype, Body&& body) {
  switch (dtype) {
    case LogitDtype::Float32: body(std::integral_constant<LogitDtype, LogitDtype::Float32>{}); break;
    case LogitDtype::Float16: body(std::integral_constant<LogitDtype, LogitDtype::Float16>{}); break;
    case LogitDtype::BFloat16: body(std::integral_constant<LogitDtype, LogitDtype::BFloat16>{}); break;
    case LogitDtype::Float64: body(std::integral_constant<LogitDtype, LogitDtype::Float64>{}); break;
  }
}

void argmax_count_cpu(const CountArgs& args);
void argmax_count_cuda(const CountArgs& args, void* stream);

}  // namespace rsmooth
