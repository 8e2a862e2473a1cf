// CPU loops of the fused perturb kernel: at::parallel_for over (row, tile) units for the i.i.d.
// families and over rows for the radial ones. The element math is in csrc/rsmooth/ (shared with CUDA);
// this file decides who computes what, in tiles the compiler can vectorise, and picks at run time the
// widest instruction set this CPU has (AVX-512, AVX2 + FMA, or the x86-64 baseline).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../rsmooth/perturb.h"
#include "philox_avx2.h"

namespace rsmooth {
namespace {

// The instruction-set variants of the loops below (the widest this CPU runs is picked at run time).
enum class Isa { Baseline, Avx2, Avx512 };

constexpr int kTileBlocks = 64;              // Philox blocks per tile (a multiple of 8: draw_words_x8)
constexpr int kTile = 4 * kTileBlocks;       // elements per tile
constexpr int64_t kTilesPerTask = 16;        // parallel_for grain for the i.i.d. loop

// Words of blocks first_block .. first_block+num_blocks-1 of one sample, like draw_words() but round by
// round over all blocks of the tile: the blocks' dependency chains interleave, so the vectorised
// multiplies are not latency-bound (25% faster than one block at a time). The AVX2 variant uses the
// intrinsics of philox_avx2.h instead (GCC's AVX2 code for these rounds is shuffle-bound).
template <Isa I>
inline void draw_words_tile(const SampleStream& stream, int64_t first_block, int num_blocks,
                            uint32_t* words) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if constexpr (I == Isa::Avx2) return draw_words_x8(stream, first_block, num_blocks, words);
#endif
  alignas(64) uint32_t c0[kTileBlocks], c1[kTileBlocks], c2[kTileBlocks], c3[kTileBlocks];
  const uint32_t tag = (stream.phase << kPhaseShift) | kPurposeElements;
  for (int b = 0; b < num_blocks; ++b) {
    c0[b] = static_cast<uint32_t>(first_block + b);
    c1[b] = stream.sample;
    c2[b] = stream.input;
    c3[b] = tag;
  }
  uint32_t k0 = stream.key[0], k1 = stream.key[1];
  for (int round = 0; round < Philox4x32::kRounds; ++round) {
    for (int b = 0; b < num_blocks; ++b) philox_round(c0[b], c1[b], c2[b], c3[b], k0, k1);
    k0 += Philox4x32::kWeyl0;
    k1 += Philox4x32::kWeyl1;
  }
  for (int b = 0; b < num_blocks; ++b) {
    words[4 * b] = c0[b];
    words[4 * b + 1] = c1[b];
    words[4 * b + 2] = c2[b];
    words[4 * b + 3] = c3[b];
  }
}

// Tiles [begin, end) of the flattened (row, tile) space of an i.i.d. family.
template <class Rule, OutDtype D, Isa I>
inline void iid_tiles(const PerturbArgs& a, const Rule& rule, int64_t begin, int64_t end) {
  alignas(64) uint32_t words[kTile];
  alignas(64) float xin[kTile];
  alignas(64) float y[kTile];
  const int64_t blocks_per_row = a.num_blocks();
  const int64_t tiles_per_row = (blocks_per_row + kTileBlocks - 1) / kTileBlocks;
  for (int64_t unit = begin; unit < end; ++unit) {
    const int64_t row = unit / tiles_per_row;
    const int64_t first_block = (unit - row * tiles_per_row) * kTileBlocks;
    const int num_blocks = static_cast<int>(std::min<int64_t>(kTileBlocks, blocks_per_row - first_block));
    const SampleStream stream = a.stream_of_row(row);
    const int64_t j0 = 4 * first_block;
    draw_words_tile<I>(stream, first_block, num_blocks, words);
    load_span(a, row, j0, 4 * num_blocks, xin);
    iid_span(rule, stream, j0, words, xin, y, 4 * num_blocks);
    store_span<D>(a, row, j0, 4 * num_blocks, y);
  }
}

// Rows [begin, end) of a radial family. The direction of a row is generated once into `raw` (a
// per-thread scratch row), normalised, then added: the CUDA kernel instead regenerates it.
template <class Rule, OutDtype D, Isa I>
inline void radial_rows(const PerturbArgs& a, const Rule& rule, int64_t begin, int64_t end, float* raw) {
  constexpr Sphere S = Rule::kSphere;
  alignas(64) uint32_t words[kTile];
  alignas(64) float xin[kTile];
  alignas(64) float y[kTile];
  const int64_t blocks_per_row = a.num_blocks();
  for (int64_t row = begin; row < end; ++row) {
    const SampleStream stream = a.stream_of_row(row);
    double norm_sum = 0.0;
    for (int64_t first_block = 0; first_block < blocks_per_row; first_block += kTileBlocks) {
      const int num_blocks = static_cast<int>(std::min<int64_t>(kTileBlocks, blocks_per_row - first_block));
      const int64_t j0 = 4 * first_block;
      draw_words_tile<I>(stream, first_block, num_blocks, words);
      direction_span<S>(words, raw + j0, 4 * num_blocks);
      if (S != Sphere::Linf) norm_sum += norm_span<S, 16>(a, j0, 4 * num_blocks, raw + j0);
    }
    const RadialDraw draw = draw_radial(rule, a.numel, stream);
    const float scale = direction_scale<S>(draw.radius, norm_sum);
    for (int64_t j0 = 0; j0 < a.numel; j0 += kTile) {
      const int count = static_cast<int>(std::min<int64_t>(kTile, 4 * blocks_per_row - j0));
      load_span(a, row, j0, count, xin);
      radial_finish_span(draw, scale, j0, count, raw + j0, xin, y);
      store_span<D>(a, row, j0, count, y);
    }
  }
}

// Instruction-set variants: the same code, compiled for wider vectors and with every call inlined.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RSMOOTH_X86_VARIANTS 1
#define RSMOOTH_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"), flatten))
#define RSMOOTH_AVX2 __attribute__((target("avx2,fma"), flatten))

template <class Rule, OutDtype D>
RSMOOTH_AVX512 void iid_tiles_avx512(const PerturbArgs& a, const Rule& f, int64_t b, int64_t e) {
  iid_tiles<Rule, D, Isa::Avx512>(a, f, b, e);
}
template <class Rule, OutDtype D>
RSMOOTH_AVX2 void iid_tiles_avx2(const PerturbArgs& a, const Rule& f, int64_t b, int64_t e) {
  iid_tiles<Rule, D, Isa::Avx2>(a, f, b, e);
}
template <class Rule, OutDtype D>
RSMOOTH_AVX512 void radial_rows_avx512(const PerturbArgs& a, const Rule& r, int64_t b, int64_t e, float* raw) {
  radial_rows<Rule, D, Isa::Avx512>(a, r, b, e, raw);
}
template <class Rule, OutDtype D>
RSMOOTH_AVX2 void radial_rows_avx2(const PerturbArgs& a, const Rule& r, int64_t b, int64_t e, float* raw) {
  radial_rows<Rule, D, Isa::Avx2>(a, r, b, e, raw);
}

// The widest variant this CPU runs; RSMOOTH_CPU_ISA=baseline|avx2 caps it (tests compare the variants).
Isa detect_isa() {
  __builtin_cpu_init();
  Isa isa = Isa::Baseline;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = Isa::Avx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    isa = Isa::Avx512;
  }
  const char* cap = std::getenv("RSMOOTH_CPU_ISA");
  if (cap != nullptr && std::strcmp(cap, "baseline") == 0) return Isa::Baseline;
  if (cap != nullptr && std::strcmp(cap, "avx2") == 0 && isa == Isa::Avx512) return Isa::Avx2;
  return isa;
}

const Isa kIsa = detect_isa();
#endif

template <class Rule, OutDtype D>
void run_iid_tiles(const PerturbArgs& a, const Rule& rule, int64_t begin, int64_t end) {
#ifdef RSMOOTH_X86_VARIANTS
  if (kIsa == Isa::Avx512) return iid_tiles_avx512<Rule, D>(a, rule, begin, end);
  if (kIsa == Isa::Avx2) return iid_tiles_avx2<Rule, D>(a, rule, begin, end);
#endif
  iid_tiles<Rule, D, Isa::Baseline>(a, rule, begin, end);
}

template <class Rule, OutDtype D>
void run_radial_rows(const PerturbArgs& a, const Rule& rule, int64_t begin, int64_t end, float* raw) {
#ifdef RSMOOTH_X86_VARIANTS
  if (kIsa == Isa::Avx512) return radial_rows_avx512<Rule, D>(a, rule, begin, end, raw);
  if (kIsa == Isa::Avx2) return radial_rows_avx2<Rule, D>(a, rule, begin, end, raw);
#endif
  radial_rows<Rule, D, Isa::Baseline>(a, rule, begin, end, raw);
}

}  // namespace

void perturb_cpu(const PerturbArgs& a) {
  if (a.num_rows() == 0 || a.numel == 0) return;
  dispatch_out_dtype(a.out_dtype, [&](auto dtype) {
    constexpr OutDtype D = decltype(dtype)::value;
    dispatch_noise(a.kind, a.params, [&](const auto& rule) {
      using Rule = std::decay_t<decltype(rule)>;
      if constexpr (RadialRule<Rule>) {
        const int64_t grain = std::max<int64_t>(1, kTilesPerTask * kTile / std::max<int64_t>(1, a.numel));
        at::parallel_for(0, a.num_rows(), grain, [&](int64_t begin, int64_t end) {
          std::vector<float> raw(4 * a.num_blocks());
          run_radial_rows<Rule, D>(a, rule, begin, end, raw.data());
        });
      } else {
        const int64_t tiles = a.num_rows() * ((a.num_blocks() + kTileBlocks - 1) / kTileBlocks);
        at::parallel_for(0, tiles, kTilesPerTask, [&](int64_t begin, int64_t end) {
          run_iid_tiles<Rule, D>(a, rule, begin, end);
        });
      }
    });
  });
}

void philox_cpu(const uint32_t* counters, int64_t n, const uint32_t key[2], uint32_t* out) {
  for (int64_t i = 0; i < n; ++i) philox4x32_10(counters + 4 * i, key, out + 4 * i);
}

}  // namespace rsmooth
