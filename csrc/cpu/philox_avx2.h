// Philox4x32-10 on eight blocks at a time with AVX2 intrinsics, for the AVX2 + FMA variant of the CPU loops.
// GCC vectorises the portable rounds (philox.h) for AVX2 by widening every 32 x 32 -> 64-bit product into
// 64-bit lanes and packing the halves back with cross-lane shuffles: about 40% of the AVX2 Gaussian draw
// went there. Here the even and odd lanes' products come from two vpmuludq, the high halves are put
// together with in-lane shifts and blends, and the low halves are one vpmulld; the state stays in
// registers for all ten rounds. The words are the same integers as philox4x32_10's (tests compare the
// instruction-set variants bit for bit).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

#include "../rsmooth/counter.h"

namespace rsmooth {

#define RSMOOTH_TARGET_AVX2 __attribute__((target("avx2,fma")))

// hi = the high 32 bits of c * m per 32-bit lane; lo = the low 32 bits.
RSMOOTH_TARGET_AVX2 inline void mulhilo32_x8(__m256i c, __m256i m, __m256i* lo, __m256i* hi) {
  const __m256i even = _mm256_mul_epu32(c, m);                         // lanes 0, 2, 4, 6 as 64-bit products
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);  // lanes 1, 3, 5, 7
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  *lo = _mm256_mullo_epi32(c, m);
}

// words[4 b + k] = word k of element block first_block + b of `stream`, for b < num_blocks rounded up to a
// multiple of 8: words must hold 4 * that many (the blocks past num_blocks are drawn and not used).
RSMOOTH_TARGET_AVX2 __attribute__((noinline)) inline void draw_words_x8(const SampleStream& stream,
                                                                        int64_t first_block, int num_blocks,
                                                                        uint32_t* words) {
  const __m256i mul0 = _mm256_set1_epi32(static_cast<int>(Philox4x32::kMul0));
  const __m256i mul1 = _mm256_set1_epi32(static_cast<int>(Philox4x32::kMul1));
  __m256i key0[Philox4x32::kRounds], key1[Philox4x32::kRounds];
  uint32_t k0 = stream.key[0], k1 = stream.key[1];
  for (int round = 0; round < Philox4x32::kRounds; ++round) {
    key0[round] = _mm256_set1_epi32(static_cast<int>(k0));
    key1[round] = _mm256_set1_epi32(static_cast<int>(k1));
    k0 += Philox4x32::kWeyl0;
    k1 += Philox4x32::kWeyl1;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i sample = _mm256_set1_epi32(static_cast<int>(stream.sample));
  const __m256i input = _mm256_set1_epi32(static_cast<int>(stream.input));
  const __m256i tag = _mm256_set1_epi32(static_cast<int>((stream.phase << kPhaseShift) | kPurposeElements));
  for (int b = 0; b < num_blocks; b += 8) {
    // The counter's block word wraps like the scalar path's cast of first_block + b to uint32.
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(first_block + b))), lane);
    __m256i c1 = sample, c2 = input, c3 = tag;
#pragma GCC unroll 10
    for (int round = 0; round < Philox4x32::kRounds; ++round) {
      __m256i lo0, hi0, lo1, hi1;
      mulhilo32_x8(c0, mul0, &lo0, &hi0);
      mulhilo32_x8(c2, mul1, &lo1, &hi1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), key0[round]);
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), key1[round]);
      c1 = lo1;
      c3 = lo0;
    }
    // Transpose the four word vectors (lane = block) into element order (4 words per block).
    const __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
    const __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
    const __m256i b04 = _mm256_unpacklo_epi64(t0, t2), b15 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i b26 = _mm256_unpacklo_epi64(t1, t3), b37 = _mm256_unpackhi_epi64(t1, t3);
    __m256i* out = reinterpret_cast<__m256i*>(words + 4 * b);
    _mm256_storeu_si256(out + 0, _mm256_permute2x128_si256(b04, b15, 0x20));
    _mm256_storeu_si256(out + 1, _mm256_permute2x128_si256(b26, b37, 0x20));
    _mm256_storeu_si256(out + 2, _mm256_permute2x128_si256(b04, b15, 0x31));
    _mm256_storeu_si256(out + 3, _mm256_permute2x128_si256(b26, b37, 0x31));
  }
}

#undef RSMOOTH_TARGET_AVX2

}  // namespace rsmooth
#endif
