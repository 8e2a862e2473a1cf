// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a stateless
// counter-based generator, out = philox(counter, key). The same function runs on host and device, so
// the CPU and CUDA kernels draw identical integers for identical (counter, key).
#pragma once

#include "macros.h"

namespace rsmooth {

struct Philox4x32 {
  static constexpr uint32_t kMul0 = 0xD2511F53u;
  static constexpr uint32_t kMul1 = 0xCD9E8D57u;
  static constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
  static constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1
  static constexpr int kRounds = 10;
};

RSMOOTH_HDI uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
#if defined(__CUDA_ARCH__)
  *hi = __umulhi(a, b);
  return a * b;
#else
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
#endif
}

// One Philox round on the counter words (c0, c1, c2, c3) under round key (k0, k1).
RSMOOTH_HDI void philox_round(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0,
                              uint32_t k1) {
  uint32_t hi0, hi1;
  const uint32_t lo0 = mulhilo32(Philox4x32::kMul0, c0, &hi0);
  const uint32_t lo1 = mulhilo32(Philox4x32::kMul1, c2, &hi1);
  c0 = hi1 ^ c1 ^ k0;
  c1 = lo1;
  c2 = hi0 ^ c3 ^ k1;
  c3 = lo0;
}

// out[0..3] = Philox4x32-10(ctr, key).
RSMOOTH_HDI void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  RSMOOTH_UNROLL
  for (int round = 0; round < Philox4x32::kRounds; ++round) {
    philox_round(c0, c1, c2, c3, k0, k1);
    k0 += Philox4x32::kWeyl0;
    k1 += Philox4x32::kWeyl1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

}  // namespace rsmooth
