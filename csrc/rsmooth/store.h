// float32 -> float32 / float16 / bfloat16 stores with round-to-nearest-even, written out in bits so
// the CPU and CUDA kernels round identically without torch or CUDA half types.
#pragma once

#include <cstring>

#include "macros.h"

namespace rsmooth {

enum class OutDtype : int { Float32 = 0, Float16 = 1, BFloat16 = 2 };

RSMOOTH_HDI uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

RSMOOTH_HDI float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

RSMOOTH_HDI uint16_t float_to_bfloat16_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

RSMOOTH_HDI uint16_t float_to_half_bits(float f) {
  uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u >= 0x47800000u) {  // |f| >= 65536 (or inf / NaN): inf, or quiet NaN
    return static_cast<uint16_t>(sign | (u > 0x7f800000u ? 0x7e00u : 0x7c00u));
  }
  if (u < 0x38800000u) {  // |f| < 2^-14: half subnormal or zero
    // Adding 0.5 moves the 10 subnormal mantissa bits (units of 2^-24) to the bottom of the float's
    // mantissa; the float addition itself rounds to nearest even.
    const float shifted = bits_float(u) + 0.5f;
    return static_cast<uint16_t>(sign | (float_bits(shifted) - 0x3f000000u));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even; a carry
  // out of the mantissa correctly bumps the exponent (up to inf for 65520 <= |f| < 65536).
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xC8000000u + 0x0fffu + odd;  // 0xC8000000 == (15 - 127) << 23 modulo 2^32
  return static_cast<uint16_t>(sign | (u >> 13));
}

template <OutDtype D>
RSMOOTH_HDI void store_value(void* base, int64_t index, float value) {
  if (D == OutDtype::Float32) {
    static_cast<float*>(base)[index] = value;
  } else if (D == OutDtype::Float16) {
    static_cast<uint16_t*>(base)[index] = float_to_half_bits(value);
  } else {
    static_cast<uint16_t*>(base)[index] = float_to_bfloat16_bits(value);
  }
}

}  // namespace rsmooth
