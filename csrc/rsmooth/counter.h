// The RNG contract: every random word the library draws is Philox4x32-10 of a counter built from
// (block, sample, input, purpose | phase) under the key seed. Nothing depends on batch size,
// chunking, thread count or device.
//
//   ctr[0] = block   : element block (4 elements per block), rejection-sampler attempt, or (per-element
//                      gamma) attempt pair << 28 | element index
//   ctr[1] = sample  : global Monte Carlo sample index s (offset + local sample)
//   ctr[2] = input   : input id i (dataset index by default)
//   ctr[3] = tag     : purpose in the low 4 bits, phase above (e.g. selection vs estimation)
#pragma once

#include "philox.h"

namespace rsmooth {

// What a stream is for: the one list of purpose tags, whatever family draws from them.
enum Purpose : uint32_t {
  kPurposeElements = 0,  // per-element noise words
  kPurposeRadius = 1,    // a radial sample's radius: its rejection sampler, one block per attempt
  kPurposeChoice = 2,    // a radial sample's extras (l_inf coordinate, sign, gamma boosts)
  kPurposeRadiusDenominator = 3,  // a beta-prime radius's second (denominator) gamma, one block per attempt
  kPurposeElementGamma = 4,       // per-element gamma attempts, block = (attempt pair << 28) | element
  kPurposeGridLow = 5,            // grid noise: the low 32 bits of an element's 64-bit word (same layout)
};

constexpr int kPhaseShift = 4;
constexpr uint32_t kMaxPhase = (1u << (32 - kPhaseShift)) - 1;

struct SampleStream {
  uint32_t key[2];
  uint32_t sample;
  uint32_t input;
  uint32_t phase;

  RSMOOTH_HD SampleStream(uint64_t seed, uint32_t sample_, uint32_t input_, uint32_t phase_)
      : key{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)},
        sample(sample_), input(input_), phase(phase_) {}

  RSMOOTH_HDI void draw(uint32_t block, Purpose purpose, uint32_t out[4]) const {
    const uint32_t ctr[4] = {block, sample, input, (phase << kPhaseShift) | purpose};
    philox4x32_10(ctr, key, out);
  }
};

}  // namespace rsmooth
