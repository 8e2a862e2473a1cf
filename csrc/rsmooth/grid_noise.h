// Sound (grid) noise: x + delta with x on the grid {i / G} and delta drawn exactly from a discretised
// symmetric law, P(delta = i / G) = F((2i+1)/(2G)) - F((2i-1)/(2G)) (docs/sound.md). The law is a table of
// 64-bit thresholds T[i] = floor(2^64 F((2i+1)/(2G))), i = 0 .. M-1, computed exactly on the host
// (rsmooth_ext/grid.py); the kernel only compares integers, so every device draws the same grid point.
//
// Element j's 64-bit word is u = (hi << 32) | lo with hi = word j % 4 of block j / 4 (the i.i.d. families'
// layout) and lo = word j % 4 of block j / 4 under kPurposeGridLow. The top bit of u is the sign; the
// reflected word u' = u (sign +) or ~u (sign -) lies in [2^63, 2^64), and the magnitude is
// k = min(#{i : T[i] <= u'}, M). lo is drawn only when hi alone does not decide the count (hi equals a
// threshold's high word: probability < M 2^-31 per element); the result is the same function of u either way.
//
// The count is read from a guide first: the reflected high word's top kGuideBits below its leading 1 pick a
// bucket of 2^kOffsetBits high words. A bucket's entry holds k0 = #{i : hi[i] < the bucket's first word} and
// the offset o in the bucket of its one threshold high word (2^kOffsetBits - 1 if none), so that
// k = k0 + (h mod 2^kOffsetBits > o): one load per element and no branch. Marked buckets (two or more high
// words: the tails, < 1% of the mass at the usual sigmas; every bucket when M >= 2^kCountBits) and ties
// (h mod 2^kOffsetBits == o: the low words may decide) take a branch-free binary search over the high words,
// then the low words.
#pragma once

#include <cmath>

#include "counter.h"
#include "noise_params.h"

namespace rsmooth {

// params: [G, C, M, flags]; the table: int32 words [guide: 2^kGuideBits][high words: L][low words: L],
// L = 2^depth - 1 > M: T[0 .. M) then padding 0xFFFFFFFF (T = 2^64 - 1, which only u' = 2^64 - 1 reaches:
// clamped to M). guide[b] = mark << 31 | k0 << kOffsetBits | o.
struct GridNoise {
  static constexpr const char* kName = "grid";
  static constexpr bool kOwnDraws = true;
  static constexpr bool kUsesTable = true;
  static constexpr int kFlagIndex = 1;    // write the grid index y instead of y / G
  static constexpr int kFlagChecked = 2;  // x is known to be on the grid: the op does not check it again
  static constexpr int kMaxGrid = 1 << 16;
  static constexpr int kGuideBits = 12;
  static constexpr int kGuideSize = 1 << kGuideBits;
  static constexpr int kOffsetBits = 31 - kGuideBits;
  static constexpr uint32_t kOffsetMask = (1u << kOffsetBits) - 1;
  static constexpr int kCountBits = 31 - kOffsetBits;
  static constexpr uint32_t kCountMask = (1u << kCountBits) - 1;
#if defined(__CUDA_ARCH__)
  static constexpr int kChunk = 4;
#else
  static constexpr int kChunk = 64;
#endif

  float grid;
  int32_t lowest, highest;  // -C and G + C
  int32_t entries;          // M
  int32_t half;             // 2^(depth - 1): the first step of the search
  int32_t length;           // L
  bool index;
  const uint32_t* guide;
  const uint32_t* hi;
  const uint32_t* lo;

  RSMOOTH_HD explicit GridNoise(const NoiseParams& p)
      : grid(static_cast<float>(p.v[0])),
        lowest(-static_cast<int32_t>(p.v[1])),
        highest(static_cast<int32_t>(p.v[0] + p.v[1])),
        entries(static_cast<int32_t>(p.v[2])),
        half(static_cast<int32_t>((table_entries(p.table_length) + 1) / 2)),
        length(static_cast<int32_t>(table_entries(p.table_length))),
        index((static_cast<int>(p.v[3]) & kFlagIndex) != 0),
        guide(p.table),
        hi(p.table + kGuideSize),
        lo(p.table + kGuideSize + table_entries(p.table_length)) {}

  // L for a table of `words` int32 words (the op checks that it is 2^kGuideBits + 2 L with L + 1 a power of 2).
  RSMOOTH_HDI static int64_t table_entries(int64_t words) { return (words - kGuideSize) / 2; }

  template <class Check>
  static void check_params(const Check& c) {  // [G, C, M, flags]
    c.count(4, 4);
    c.integer_in(0, 1, kMaxGrid, "grid size G");
    c.integer_in(1, 0, kMaxGrid, "clip bound C (grid steps)");
    c.integer_in(2, 1, 2 * kMaxGrid, "threshold count M");
    c.integer_in(3, 0, 3, "flags");
  }

  RSMOOTH_HDI int32_t input_index(float x) const {
#if defined(__CUDA_ARCH__)
    return __float2int_rn(__fmul_rn(x, grid));
#else
    return static_cast<int32_t>(std::nearbyint(x * grid));
#endif
  }

  RSMOOTH_HDI float output_value(int32_t y) const {
    if (index) return static_cast<float>(y);
#if defined(__CUDA_ARCH__)
    return __fdiv_rn(static_cast<float>(y), grid);
#else
    return static_cast<float>(y) / grid;
#endif
  }

  // #{i : T[i] <= u'} for the element j whose reflected high word is h: a branch-free binary search for
  // #{i : hi[i] < h}, then, on a tie with a threshold's high word, the low words against the reflected lo.
  RSMOOTH_HDI int32_t search(const SampleStream& stream, int64_t j, uint32_t h, bool negative) const {
    int32_t k = 0;
    for (int32_t step = half; step > 0; step >>= 1) k += hi[k + step - 1] < h ? step : 0;
    if (k < length && hi[k] == h) {
      uint32_t block[4];
      stream.draw(static_cast<uint32_t>(j >> 2), kPurposeGridLow, block);
      const uint32_t l = negative ? ~block[j & 3] : block[j & 3];
      while (k < length && hi[k] == h && lo[k] <= l) ++k;
    }
    return k;
  }

  // The output for input x, sign and magnitude k <= M: clamp(round(x G) +- k, -C, G + C), as value or index.
  RSMOOTH_HDI float output(float x, bool negative, int32_t magnitude) const {
    int32_t out = input_index(x) + (negative ? -magnitude : magnitude);
    out = out < lowest ? lowest : out > highest ? highest : out;
    return output_value(out);
  }

  // Two passes per chunk: every element from its guide entry (a loop without branches, which the CPU loops
  // vectorise), then the few elements of marked buckets or with a tie again, searched.
  RSMOOTH_HDI void apply_span(const SampleStream& stream, int64_t j0, const uint32_t* __restrict__ words,
                              const float* __restrict__ xin, float* __restrict__ y, int count) const {
    // a local copy: stores to y cannot alias it, so its fields stay in registers and the first loop vectorises
    const GridNoise r = *this;
    const uint32_t* __restrict__ guide_words = guide;
    for (int c0 = 0; c0 < count; c0 += kChunk) {
      const int n = count - c0 < kChunk ? count - c0 : kChunk;
      uint32_t g[kChunk];
      uint32_t marked = 0;
      for (int t = 0; t < n; ++t) {
        const uint32_t w = words[c0 + t];
        const bool negative = (w >> 31) == 0;
        const uint32_t h = negative ? ~w : w;
        const uint32_t entry = guide_words[(h >> kOffsetBits) & (kGuideSize - 1)];
        const uint32_t offset = h & kOffsetMask, single = entry & kOffsetMask;
        const int32_t k = static_cast<int32_t>(((entry >> kOffsetBits) & kCountMask) + (offset > single ? 1u : 0u));
        g[t] = entry | (offset == single ? 0x80000000u : 0u);
        marked |= g[t];
        y[c0 + t] = r.output(xin[c0 + t], negative, k < r.entries ? k : r.entries);
      }
      if ((marked >> 31) == 0) continue;
      for (int t = 0; t < n; ++t) {
        if ((g[t] >> 31) == 0) continue;
        const uint32_t w = words[c0 + t];
        const bool negative = (w >> 31) == 0;
        const int32_t k = search(stream, j0 + c0 + t, negative ? ~w : w, negative);
        y[c0 + t] = output(xin[c0 + t], negative, k < entries ? k : entries);
      }
    }
  }
};

}  // namespace rsmooth
