// The fused perturb kernel's arguments and per-block work, shared by the CPU and CUDA loops:
// out[i * n + s', j] = x[i, j] + eps(seed, input_ids[i], offset + s', j), written once in the
// output dtype and layout. The loops (at::parallel_for on CPU, a grid on CUDA) live in cpu/ and cuda/.
#pragma once

#include <type_traits>

#include "noise.h"
#include "store.h"

namespace rsmooth {

struct PerturbArgs {
  const float* x;            // (num_inputs, numel), contiguous float32
  void* out;                 // (num_inputs * num_samples, numel) rows in out_dtype
  const uint32_t* input_ids; // (num_inputs) input ids, on the kernel's device
  int64_t num_inputs;
  int64_t num_samples;
  int64_t numel;             // elements per input (d)
  int64_t offset;            // sample index of the first sample
  uint64_t seed;
  uint32_t phase;
  NoiseKind kind;
  NoiseParams params;
  OutDtype out_dtype;
  int64_t channels;          // channels_last output: C; 0 for rows stored in logical order
  int64_t spatial;           // channels_last output: H * W
  // (seed, offset, phase) as int64 words in the kernel's memory, or nullptr: the fields above. The CUDA
  // kernels read them on the device, so a captured CUDA graph replays with new values without re-recording.
  const int64_t* rng_state = nullptr;

  RSMOOTH_HDI void load_rng_state() {
    if (rng_state == nullptr) return;
    seed = static_cast<uint64_t>(rng_state[0]);
    offset = rng_state[1];
    phase = static_cast<uint32_t>(rng_state[2]);
  }

  RSMOOTH_HDI int64_t num_rows() const { return num_inputs * num_samples; }
  RSMOOTH_HDI int64_t num_blocks() const { return (numel + 3) / 4; }

  RSMOOTH_HDI SampleStream stream_of_row(int64_t row) const {
    const int64_t input = row / num_samples;
    const int64_t sample = offset + (row - input * num_samples);
    return SampleStream(seed, static_cast<uint32_t>(sample), input_ids[input], phase);
  }

  RSMOOTH_HDI const float* x_of_row(int64_t row) const { return x + (row / num_samples) * numel; }

  // Memory position of logical element j within a row: the RNG is keyed by the logical index, so
  // the noise does not depend on the memory format.
  RSMOOTH_HDI int64_t position(int64_t row, int64_t j) const {
    if (channels == 0) return row * numel + j;
    const int64_t c = j / spatial;
    return row * numel + (j - c * spatial) * channels + c;
  }
};

// ---- spans: the work on `count` consecutive elements j0 .. j0+count-1 of one row ---------------------
// The CPU loops call them on tiles of up to kCpuTileBlocks Philox blocks, the CUDA kernels on one block
// per thread; the same code computes every element on both.

// Words of Philox blocks first_block .. first_block+num_blocks-1 (element order: 4 per block).
RSMOOTH_HDI void draw_words(const SampleStream& stream, int64_t first_block, int num_blocks,
                            uint32_t* words) {
  for (int b = 0; b < num_blocks; ++b) {
    stream.draw(static_cast<uint32_t>(first_block + b), kPurposeElements, words + 4 * b);
  }
}

// x[row's input, j0 .. j0+count) into xin; zeros past the end of the row.
RSMOOTH_HDI void load_span(const PerturbArgs& a, int64_t row, int64_t j0, int count, float* xin) {
  const float* xrow = a.x_of_row(row);
  if (j0 + count <= a.numel) {
    for (int t = 0; t < count; ++t) xin[t] = xrow[j0 + t];
  } else {
    for (int t = 0; t < count; ++t) xin[t] = j0 + t < a.numel ? xrow[j0 + t] : 0.0f;
  }
}

template <OutDtype D>
RSMOOTH_HDI void store_span(const PerturbArgs& a, int64_t row, int64_t j0, int count, const float* y) {
  if (a.channels == 0 && j0 + count <= a.numel) {
    const int64_t base = row * a.numel + j0;
    for (int t = 0; t < count; ++t) store_value<D>(a.out, base + t, y[t]);
  } else if (a.channels == 0) {
    for (int t = 0; t < count; ++t) {
      if (j0 + t < a.numel) store_value<D>(a.out, a.position(row, j0 + t), y[t]);
    }
  } else {  // channels_last: runs of one channel are strided stores; one division per span, none per element
    int64_t c = j0 / a.spatial;
    int64_t pixel = j0 - c * a.spatial;
    const int64_t base = row * a.numel;
    const int last = j0 + count <= a.numel ? count : static_cast<int>(a.numel - j0);
    for (int t0 = 0; t0 < last; ++c, pixel = 0) {
      const int run = static_cast<int>(a.spatial - pixel < last - t0 ? a.spatial - pixel : last - t0);
      const int64_t first = base + pixel * a.channels + c;
      for (int t = 0; t < run; ++t) store_value<D>(a.out, first + t * a.channels, y[t0 + t]);
      t0 += run;
    }
  }
}

// i.i.d. family: y = family(words, x) over `count` elements (a multiple of 4).
template <class Family>
RSMOOTH_HDI void apply_span(const Family family, const uint32_t* __restrict__ words,
                            const float* __restrict__ xin, float* __restrict__ y, int count) {
  for (int t = 0; t < count; t += Family::kGroup) family.apply(words + t, xin + t, y + t);
}

// The span of an i.i.d. family at elements j0 .. j0+count-1 of the row drawn from `stream`. Families with
// their own per-element draws (kOwnDraws: a per-element rejection sampler) get the stream and j0 too.
template <class Family>
RSMOOTH_HDI void iid_span(const Family& family, const SampleStream& stream, int64_t j0,
                          const uint32_t* __restrict__ words, const float* __restrict__ xin,
                          float* __restrict__ y, int count) {
  if constexpr (requires { Family::kOwnDraws; }) {
    family.apply_span(stream, j0, words, xin, y, count);
  } else {
    apply_span(family, words, xin, y, count);
  }
}

// Radial family: unnormalised direction coordinates of `count` elements (a multiple of 4).
template <Sphere S>
RSMOOTH_HDI void direction_span(const uint32_t* __restrict__ words, float* __restrict__ raw, int count) {
  for (int t = 0; t < count; t += Direction<S>::kGroup) Direction<S>::apply(words + t, raw + t);
}

// Radial pass 1: the span's contribution to the sample's l_1 / l_2 normaliser (elements < numel), summed in
// `Lanes` interleaved partial sums (a power of 2) added pairwise, neighbours first, at the end. The CPU loops use 16: one
// accumulator chain (4 lanes) left the AVX2 loop bound by the latency of its double adds.
template <Sphere S, int Lanes = 4>
RSMOOTH_HDI double norm_span(const PerturbArgs& a, int64_t j0, int count, const float* raw) {
  static_assert(Lanes >= 1 && (Lanes & (Lanes - 1)) == 0, "Lanes must be a power of 2");
  const int valid = j0 + count <= a.numel ? count : static_cast<int>(a.numel - j0);
  double lanes[Lanes];
  for (int l = 0; l < Lanes; ++l) lanes[l] = 0.0;
  const int whole = valid & ~(Lanes - 1);
  for (int t = 0; t < whole; t += Lanes) {
    for (int l = 0; l < Lanes; ++l) lanes[l] += norm_term<S>(raw[t + l]);
  }
  for (int t = whole; t < valid; ++t) lanes[0] += norm_term<S>(raw[t]);
  for (int width = Lanes / 2; width >= 1; width /= 2) {  // neighbours first: (l0 + l1) + (l2 + l3) for 4
    for (int l = 0; l < width; ++l) lanes[l] = lanes[2 * l] + lanes[2 * l + 1];
  }
  return lanes[0];
}

// Radial pass 2: y = x + scale * raw, the l_inf chosen coordinate set to +-r.
RSMOOTH_HDI void radial_finish_span(const RadialDraw& draw, float scale, int64_t j0, int count,
                                    const float* raw, const float* xin, float* y) {
  for (int t = 0; t < count; ++t) y[t] = xin[t] + scale * raw[t];
  const int64_t chosen = draw.chosen - j0;
  if (chosen >= 0 && chosen < count) {
    y[chosen] = xin[chosen] + draw.chosen_sign * static_cast<float>(draw.radius);
  }
}

// Calls body(std::integral_constant<OutDtype, D>{}) for the runtime output dtype.
template <class Body>
inline void dispatch_out_dtype(OutDtype dtype, Body&& body) {
  switch (dtype) {
    case OutDtype::Float32: body(std::integral_constant<OutDtype, OutDtype::Float32>{}); break;
    case OutDtype::Float16: body(std::integral_constant<OutDtype, OutDtype::Float16>{}); break;
    case OutDtype::BFloat16: body(std::integral_constant<OutDtype, OutDtype::BFloat16>{}); break;
  }
}

// Entry points of the two backends (defined in cpu/ and cuda/). `stream` is a cudaStream_t.
void perturb_cpu(const PerturbArgs& args);
void perturb_cuda(const PerturbArgs& args, void* stream);
void philox_cpu(const uint32_t* counters, int64_t n, const uint32_t key[2], uint32_t* out);
void philox_cuda(const uint32_t* counters, int64_t n, const uint32_t key[2], uint32_t* out,
                 void* stream);

}  // namespace rsmooth
