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
  const int64_t* input_ids;  // (num_inputs), on the kernel's device
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

  RSMOOTH_HDI int64_t num_rows() const { return num_inputs * num_samples; }
  RSMOOTH_HDI int64_t num_blocks() const { return (numel + 3) / 4; }

  RSMOOTH_HDI SampleStream stream_of_row(int64_t row) const {
    const int64_t input = row / num_samples;
    const int64_t sample = offset + (row - input * num_samples);
    return SampleStream(seed, static_cast<uint32_t>(sample), static_cast<uint32_t>(input_ids[input]),
                        phase);
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

RSMOOTH_HDI void load4(const float* xrow, int64_t j0, int64_t numel, float xin[4]) {
  for (int t = 0; t < 4; ++t) xin[t] = j0 + t < numel ? xrow[j0 + t] : 0.0f;
}

template <OutDtype D>
RSMOOTH_HDI void store4(const PerturbArgs& a, int64_t row, int64_t j0, const float y[4]) {
  for (int t = 0; t < 4; ++t) {
    if (j0 + t < a.numel) store_value<D>(a.out, a.position(row, j0 + t), y[t]);
  }
}

// One block of 4 elements of an i.i.d. family.
template <class Family, OutDtype D>
RSMOOTH_HDI void perturb_iid_block(const PerturbArgs& a, const Family& family,
                                   const SampleStream& stream, int64_t row, int64_t block) {
  uint32_t w[4];
  stream.draw(static_cast<uint32_t>(block), kPurposeElements, w);
  float xin[4], y[4];
  const int64_t j0 = block * 4;
  load4(a.x_of_row(row), j0, a.numel, xin);
  family.apply4(w, xin, y);
  store4<D>(a, row, j0, y);
}

// Radial pass 1: this block's contribution to the sample's l_1 / l_2 normaliser.
template <Sphere S>
RSMOOTH_HDI double radial_norm_block(const PerturbArgs& a, const SampleStream& stream,
                                     int64_t block) {
  uint32_t w[4];
  stream.draw(static_cast<uint32_t>(block), kPurposeElements, w);
  float raw[4];
  direction4<S>(w, raw);
  double sum = 0.0;
  const int64_t j0 = block * 4;
  for (int t = 0; t < 4; ++t) {
    if (j0 + t < a.numel) sum += norm_term<S>(raw[t]);
  }
  return sum;
}

// Radial pass 2: regenerate the same words and write x + scale * direction.
template <Sphere S, OutDtype D>
RSMOOTH_HDI void radial_write_block(const PerturbArgs& a, const SampleStream& stream,
                                    const RadialDraw& draw, float scale, int64_t row,
                                    int64_t block) {
  uint32_t w[4];
  stream.draw(static_cast<uint32_t>(block), kPurposeElements, w);
  float raw[4], xin[4], y[4];
  direction4<S>(w, raw);
  const int64_t j0 = block * 4;
  load4(a.x_of_row(row), j0, a.numel, xin);
  for (int t = 0; t < 4; ++t) {
    const float eps = (j0 + t == draw.chosen) ? draw.chosen_sign * static_cast<float>(draw.radius)
                                              : scale * raw[t];
    y[t] = xin[t] + eps;
  }
  store4<D>(a, row, j0, y);
}

// Calls body(Family{params}) for the i.i.d. family `kind`; returns false for a radial family.
template <class Body>
inline bool dispatch_iid_family(NoiseKind kind, const NoiseParams& p, Body&& body) {
  switch (kind) {
    case NoiseKind::Gaussian: body(GaussianNoise(p)); return true;
    case NoiseKind::Laplace: body(LaplaceNoise(p)); return true;
    case NoiseKind::Uniform: body(UniformNoise(p)); return true;
    case NoiseKind::Lomax: body(LomaxNoise(p)); return true;
    case NoiseKind::Masking: body(MaskingNoise(p)); return true;
    default: return false;
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

template <class Body>
inline void dispatch_sphere(Sphere sphere, Body&& body) {
  switch (sphere) {
    case Sphere::Linf: body(std::integral_constant<Sphere, Sphere::Linf>{}); break;
    case Sphere::L1: body(std::integral_constant<Sphere, Sphere::L1>{}); break;
    case Sphere::L2: body(std::integral_constant<Sphere, Sphere::L2>{}); break;
  }
}

// Entry points of the two backends (defined in cpu/ and cuda/). `stream` is a cudaStream_t.
void perturb_cpu(const PerturbArgs& args);
void perturb_cuda(const PerturbArgs& args, void* stream);
void philox_cpu(const uint32_t* counters, int64_t n, const uint32_t key[2], uint32_t* out);
void philox_cuda(const uint32_t* counters, int64_t n, const uint32_t key[2], uint32_t* out,
                 void* stream);

}  // namespace rsmooth
