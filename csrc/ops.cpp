// The one TORCH_LIBRARY of rsmooth_ext: schemas, input checks, and the hand-off of raw pointers to
// the CPU (csrc/cpu) and CUDA (csrc/cuda) loops. Fake kernels live in rsmooth_ext/_meta.py.
#include <Python.h>

#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/round.h>
#include <torch/library.h>

#include <string>
#include <vector>

#ifdef RSMOOTH_WITH_CUDA
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "checks.h"
#include "rsmooth/argmax.h"
#include "rsmooth/param_check.h"
#include "rsmooth/perturb.h"

#ifndef RSMOOTH_CUDA_ARCHS
#define RSMOOTH_CUDA_ARCHS ""
#endif
#ifndef RSMOOTH_CUDA_VERSION
#define RSMOOTH_CUDA_VERSION ""
#endif
#ifndef RSMOOTH_TORCH_VERSION
#define RSMOOTH_TORCH_VERSION ""
#endif

namespace rsmooth {
namespace {

constexpr int64_t kUint32Limit = int64_t{1} << 32;

#ifdef RSMOOTH_WITH_CUDA
using DeviceGuard = c10::OptionalDeviceGuard;
#else
struct DeviceGuard {  // CPU-only build: nothing to guard
  explicit DeviceGuard(c10::Device) {}
};
#endif

// Runs cpu() for a CPU tensor, else cuda(stream) on the tensor's current CUDA stream: the one place that
// knows whether this build has CUDA kernels. `cuda` takes `auto` so that a CPU-only build never
// instantiates it (the CUDA launchers are not compiled there).
template <class Cpu, class Cuda>
void run_on_device(const char* op, const at::Tensor& t, Cpu&& cpu, Cuda&& cuda) {
  if (t.is_cpu()) {
    cpu();
    return;
  }
#ifdef RSMOOTH_WITH_CUDA
  cuda(static_cast<void*>(c10::cuda::getCurrentCUDAStream(t.device().index()).stream()));
#else
  (void)cuda;
  TORCH_CHECK(false, "rsmooth_ext::", op, ": this build has no CUDA kernels (tensor on ", t.device(), ")");
#endif
}

bool is_supported_float(at::ScalarType t) {
  return t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
}

OutDtype out_dtype_of(at::ScalarType t) {
  return t == at::kHalf ? OutDtype::Float16 : t == at::kBFloat16 ? OutDtype::BFloat16 : OutDtype::Float32;
}

std::string family_names() {
  std::string names;
  for (int kind = 0; kind < NoiseFamilies::kCount; ++kind) {
    if (kind) names += ", ";
    names += NoiseFamilies::kNames[kind];
  }
  return names;
}

NoiseKind checked_kind(const char* op, const std::string& family) {
  const int kind = noise_kind_from_name(family.c_str());
  RSMOOTH_CHECK_VALUE(op, kind >= 0, "unknown noise family '", family, "'; known: ", family_names());
  return static_cast<NoiseKind>(kind);
}

// How a rule's parameter check reports: the op's ValueError (it throws, so it never returns).
struct ParamFailure {
  const char* op;
  template <class... Parts>
  void operator()(const Parts&... parts) const {
    RSMOOTH_CHECK_VALUE(op, false, parts...);
  }
};

using OpParamCheck = ParamCheck<ParamFailure>;

// Every int64 input id must lie in [0, 2^32) (the counter holds 32 bits). On CUDA this reads the
// ids' min and max back to the host: callers that must not synchronise (the sampling loop, CUDA graph
// capture) pass ids already checked, as uint32.
void check_input_id_range(const char* op, const at::Tensor& ids) {
  if (ids.numel() == 0) return;
#ifdef RSMOOTH_WITH_CUDA
  if (ids.is_cuda()) {
    RSMOOTH_CHECK_VALUE(op, c10::cuda::currentStreamCaptureStatusMayInitCtx() == c10::cuda::CaptureStatus::None,
                        "int64 input_ids cannot be range-checked while a CUDA graph is being captured; pass "
                        "them as uint32 (rsmooth_ext._ops.as_uint32_ids) after checking them once");
  }
#endif
  const at::Tensor bounds = at::stack({ids.min(), ids.max()}).cpu();
  const int64_t lo = bounds[0].item<int64_t>(), hi = bounds[1].item<int64_t>();
  RSMOOTH_CHECK_VALUE(op, lo >= 0 && hi < kUint32Limit, "input_ids must lie in [0, 2^32), got min ", lo,
                      ", max ", hi);
}

struct PerturbPlan {
  PerturbArgs args;
  at::Tensor x_float;  // keeps the float32 copy of x alive
  at::Tensor ids;
  at::Tensor table;    // keeps a contiguous copy of the table alive
  at::ScalarType out_dtype;
  std::vector<int64_t> out_shape;
};

// The grid family's input check: every x must be a grid value i / G (i in [0, G]) as the output dtype
// writes it, (float32(i) / G) rounded to x's dtype. Reports the first offending element (flat index).
void check_on_grid(const char* op, const at::Tensor& x, double grid) {
  const at::Tensor x_cpu = x.to(at::kCPU);  // on the CPU: a CUDA division by a scalar is not exactly rounded
  const at::Tensor x32 = x_cpu.to(at::kFloat);
  const at::Tensor index = at::round(x32.mul(static_cast<float>(grid)));
  const at::Tensor snapped = index.div(static_cast<float>(grid)).to(x.scalar_type());
  const at::Tensor bad =
      snapped.ne(x_cpu).logical_or(index.lt(0)).logical_or(index.gt(grid)).logical_or(x32.isnan());
  const at::Tensor first = at::nonzero(bad.reshape(-1));
  if (first.size(0) == 0) return;
  const int64_t at_index = first[0][0].item<int64_t>();
  const double value = x32.reshape(-1)[at_index].item<double>();
  RSMOOTH_CHECK_VALUE(op, false, "grid noise needs x on the grid {i / ", grid, " : i = 0 .. ", grid,
                      "}; x.flatten()[", at_index, "] = ", value,
                      " is not (quantise x first: rsmooth_ext.sound(..., quantize=True))");
}

// The table of a family that reads one (kUsesTable): int32 (2^kGuideBits + 2 L,) with L + 1 a power of two,
// L >= M, on x's device (grid_noise.h); no table for the other families. Also checks x on the grid unless
// params[3] says it is checked.
void attach_table(const char* op, const at::Tensor& x, NoiseKind kind, const std::optional<at::Tensor>& table,
                  PerturbPlan& plan) {
  const bool uses = noise_uses_table(kind);
  RSMOOTH_CHECK_VALUE(op, uses == table.has_value(), "family '", noise_name(kind), "' ",
                      uses ? "needs a threshold table (table=)" : "takes no table, got one");
  if (!uses) return;
  const at::Tensor& t = *table;
  RSMOOTH_CHECK_TYPE(op, t.scalar_type() == at::kInt, "table must be int32, got ", t.scalar_type());
  RSMOOTH_CHECK_VALUE(op, t.dim() == 1, "table must be 1-d, got shape ", t.sizes());
  const int64_t length = GridNoise::table_entries(t.size(0));
  RSMOOTH_CHECK_VALUE(op, t.size(0) == GridNoise::kGuideSize + 2 * length && length >= 1 &&
                              ((length + 1) & length) == 0 && length < kUint32Limit,
                      "table must hold ", GridNoise::kGuideSize, " + 2 L words with L + 1 a power of two, got ",
                      t.size(0));
  const NoiseParams& p = plan.args.params;
  RSMOOTH_CHECK_VALUE(op, length >= p.v[2], "table has ", length, " thresholds, fewer than M = ", p.v[2]);
  RSMOOTH_CHECK_VALUE(op, t.device() == x.device(), "table must be on x's device ", x.device(), ", got ",
                      t.device());
  plan.table = t.contiguous();
  plan.args.params.table = static_cast<const uint32_t*>(plan.table.const_data_ptr());
  plan.args.params.table_length = t.size(0);
  if ((static_cast<int>(p.v[3]) & GridNoise::kFlagChecked) == 0) check_on_grid(op, x, p.v[0]);
}

PerturbPlan plan_perturb(const char* op, const at::Tensor& x, const std::string& family,
                         c10::ArrayRef<double> params, int64_t num_samples, int64_t seed,
                         int64_t offset, int64_t phase, const std::optional<at::Tensor>& input_ids,
                         std::optional<at::ScalarType> out_dtype, bool channels_last,
                         const std::optional<at::Tensor>& table) {
  RSMOOTH_CHECK_VALUE(op, x.dim() >= 1, "x must be a batch (B, *shape), got a ", x.dim(),
                      "-d tensor");
  RSMOOTH_CHECK_TYPE(op, is_supported_float(x.scalar_type()),
                     "x must be float32, float16 or bfloat16, got ", x.scalar_type());
  const NoiseKind kind = checked_kind(op, family);
  // The family's own checks: the parameters now, the ranges that depend on d once d is known (below).
  OpParamCheck param_check(noise_name(kind), params.data(), static_cast<int64_t>(params.size()),
                           ParamFailure{op});
  check_noise_params(kind, param_check);
  RSMOOTH_CHECK_VALUE(op, num_samples >= 0, "num_samples must be >= 0, got ", num_samples);
  RSMOOTH_CHECK_VALUE(op, offset >= 0 && offset + num_samples <= kUint32Limit,
                      "sample indices offset .. offset + num_samples - 1 must lie in [0, 2^32), got "
                      "offset=", offset, ", num_samples=", num_samples);
  RSMOOTH_CHECK_VALUE(op, phase >= 0 && phase <= static_cast<int64_t>(kMaxPhase), "phase must be in [0, ",
                      kMaxPhase, "], got ", phase);
  const at::ScalarType dtype = out_dtype.value_or(x.scalar_type());
  RSMOOTH_CHECK_TYPE(op, is_supported_float(dtype),
                     "out_dtype must be float32, float16 or bfloat16, got ", dtype);
  RSMOOTH_CHECK_VALUE(op, !channels_last || x.dim() == 4,
                      "channels_last needs a 4-d x (B, C, H, W), got a ", x.dim(), "-d tensor");
  const int64_t batch = x.size(0);
  int64_t d = 1;
  for (int64_t i = 1; i < x.dim(); ++i) d *= x.size(i);
  RSMOOTH_CHECK_VALUE(op, d / 4 < kUint32Limit, "x has ", d, " elements per input; at most ",
                      4 * kUint32Limit - 1, " are supported");
  param_check.start_dim_pass(d);
  check_noise_params(kind, param_check);
  const NoiseParams& p = param_check.params();

  PerturbPlan plan;
  plan.x_float = x.to(at::kFloat).contiguous();
  if (input_ids.has_value()) {
    const at::Tensor& ids = *input_ids;
    const at::ScalarType t = ids.scalar_type();
    RSMOOTH_CHECK_TYPE(op, t == at::kLong || t == at::kUInt32,
                       "input_ids must be int64 (or uint32), got ", t);
    RSMOOTH_CHECK_VALUE(op, ids.dim() == 1 && ids.size(0) == batch,
                        "input_ids must have shape (B,) = (", batch, ",), got ", ids.sizes());
    RSMOOTH_CHECK_VALUE(op, ids.device() == x.device(), "input_ids must be on x's device ",
                        x.device(), ", got ", ids.device());
    if (t == at::kLong) {
      check_input_id_range(op, ids);
      // the kernels read 32-bit ids: the low 32 bits, which are the whole value after the check
      plan.ids = ids.to(at::kInt).contiguous();
    } else {  // uint32 ids are in range by their type: no check, no host synchronisation
      plan.ids = ids.contiguous();
    }
  } else {
    RSMOOTH_CHECK_VALUE(op, batch <= kUint32Limit, "a batch of ", batch,
                        " inputs exceeds 2^32 input ids");
    plan.ids = at::arange(batch, x.options().dtype(at::kLong)).to(at::kInt);
  }
  plan.out_dtype = dtype;
  plan.out_shape = x.sizes().vec();
  plan.out_shape[0] = batch * num_samples;

  PerturbArgs& a = plan.args;
  a.x = plan.x_float.data_ptr<float>();
  a.out = nullptr;
  a.input_ids = static_cast<const uint32_t*>(plan.ids.const_data_ptr());
  a.num_inputs = batch;
  a.num_samples = num_samples;
  a.numel = d;
  a.offset = offset;
  a.seed = static_cast<uint64_t>(seed);
  a.phase = static_cast<uint32_t>(phase);
  a.kind = kind;
  a.params = p;
  a.out_dtype = out_dtype_of(dtype);
  a.channels = channels_last ? x.size(1) : 0;
  a.spatial = channels_last ? x.size(2) * x.size(3) : 0;
  attach_table(op, x, kind, table, plan);
  return plan;
}

// The optional rng_state (seed, offset, phase) tensor: the form a compiled step or a CUDA graph passes,
// so that these per-batch values are data, not constants of the graph. Replaces the int arguments,
// which must then be 0. A CPU tensor is checked and read here; a CUDA tensor is read by the kernel on
// the device (no host synchronisation): its values are the caller's to check.
at::Tensor attach_rng_state(const char* op, const at::Tensor& x, const std::optional<at::Tensor>& rng_state,
                            int64_t num_samples, int64_t seed, int64_t offset, int64_t phase, PerturbArgs& a) {
  if (!rng_state.has_value()) return at::Tensor();
  const at::Tensor& state = *rng_state;
  RSMOOTH_CHECK_TYPE(op, state.scalar_type() == at::kLong, "rng_state must be int64, got ", state.scalar_type());
  RSMOOTH_CHECK_VALUE(op, state.dim() == 1 && state.size(0) == 3,
                      "rng_state must have shape (3,) = (seed, offset, phase), got ", state.sizes());
  RSMOOTH_CHECK_VALUE(op, state.device() == x.device(), "rng_state must be on x's device ", x.device(),
                      ", got ", state.device());
  RSMOOTH_CHECK_VALUE(op, seed == 0 && offset == 0 && phase == 0,
                      "with rng_state, the int arguments seed, offset and phase must be 0, got ", seed, ", ",
                      offset, ", ", phase);
  const at::Tensor values = state.contiguous();
  if (values.is_cpu()) {
    const int64_t* v = values.data_ptr<int64_t>();
    RSMOOTH_CHECK_VALUE(op, v[1] >= 0 && v[1] + num_samples <= kUint32Limit,
                        "sample indices rng_state[1] .. rng_state[1] + num_samples - 1 must lie in [0, 2^32), "
                        "got rng_state[1]=", v[1], ", num_samples=", num_samples);
    RSMOOTH_CHECK_VALUE(op, v[2] >= 0 && v[2] <= static_cast<int64_t>(kMaxPhase),
                        "rng_state[2] (phase) must be in [0, ", kMaxPhase, "], got ", v[2]);
    a.seed = static_cast<uint64_t>(v[0]);
    a.offset = v[1];
    a.phase = static_cast<uint32_t>(v[2]);
  } else {
    a.rng_state = values.data_ptr<int64_t>();
  }
  return values;
}

void launch_perturb(const at::Tensor& x, PerturbArgs& a, at::Tensor& out) {
  a.out = out.data_ptr();
  run_on_device("perturb", x, [&] { perturb_cpu(a); }, [&](auto stream) { perturb_cuda(a, stream); });
}

at::Tensor perturb_op(const at::Tensor& x, const std::string& family, c10::ArrayRef<double> params,
                   int64_t num_samples, int64_t seed, int64_t offset, int64_t phase,
                   const std::optional<at::Tensor>& input_ids,
                   std::optional<at::ScalarType> out_dtype, bool channels_last,
                   const std::optional<at::Tensor>& rng_state, const std::optional<at::Tensor>& table) {
  const DeviceGuard guard(x.device());
  PerturbPlan plan = plan_perturb("perturb", x, family, params, num_samples, seed, offset, phase,
                                  input_ids, out_dtype, channels_last, table);
  const at::Tensor state = attach_rng_state("perturb", x, rng_state, num_samples, seed, offset, phase, plan.args);
  at::Tensor out = at::empty(plan.out_shape, x.options().dtype(plan.out_dtype).memory_format(
                                                 channels_last ? at::MemoryFormat::ChannelsLast
                                                               : at::MemoryFormat::Contiguous));
  launch_perturb(x, plan.args, out);
  return out;
}

void perturb_out_op(at::Tensor& out, const at::Tensor& x, const std::string& family,
                 c10::ArrayRef<double> params, int64_t num_samples, int64_t seed, int64_t offset,
                 int64_t phase, const std::optional<at::Tensor>& input_ids, bool channels_last,
                 const std::optional<at::Tensor>& rng_state, const std::optional<at::Tensor>& table) {
  const DeviceGuard guard(x.device());
  const char* op = "perturb_out";
  PerturbPlan plan = plan_perturb(op, x, family, params, num_samples, seed, offset, phase,
                                  input_ids, out.scalar_type(), channels_last, table);
  const at::Tensor state = attach_rng_state(op, x, rng_state, num_samples, seed, offset, phase, plan.args);
  RSMOOTH_CHECK_VALUE(op, out.device() == x.device(), "out must be on x's device ", x.device(),
                      ", got ", out.device());
  RSMOOTH_CHECK_VALUE(op, out.sizes().vec() == plan.out_shape, "out must have shape ",
                      c10::IntArrayRef(plan.out_shape), ", got ", out.sizes());
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  RSMOOTH_CHECK_VALUE(op, out.is_contiguous(format), "out must be ",
                      channels_last ? "channels_last" : "contiguous", " (got strides ",
                      out.strides(), ")");
  launch_perturb(x, plan.args, out);
}

// Philox4x32-10 of explicit counters (N, 4) (uint32 values held in int64) under key (key0, key1):
// the known-answer tests and the NumPy reference compare against it.
at::Tensor philox_op(const at::Tensor& counters, int64_t key0, int64_t key1) {
  const char* op = "philox4x32_10";
  RSMOOTH_CHECK_TYPE(op, counters.scalar_type() == at::kLong, "counters must be int64, got ",
                     counters.scalar_type());
  RSMOOTH_CHECK_VALUE(op, counters.dim() == 2 && counters.size(1) == 4,
                      "counters must have shape (N, 4), got ", counters.sizes());
  for (int64_t key : {key0, key1}) {
    RSMOOTH_CHECK_VALUE(op, key >= 0 && key < kUint32Limit, "key words must lie in [0, 2^32), got ",
                        key);
  }
  const DeviceGuard guard(counters.device());
  const at::Tensor ctr32 = counters.to(at::kInt).contiguous();  // same low 32 bits
  at::Tensor out32 = at::empty_like(ctr32);
  const uint32_t key[2] = {static_cast<uint32_t>(key0), static_cast<uint32_t>(key1)};
  const auto* ctr = reinterpret_cast<const uint32_t*>(ctr32.data_ptr<int32_t>());
  auto* res = reinterpret_cast<uint32_t*>(out32.data_ptr<int32_t>());
  const int64_t n = counters.size(0);
  run_on_device(op, counters, [&] { philox_cpu(ctr, n, key, res); },
                [&](auto stream) { philox_cuda(ctr, n, key, res, stream); });
  return out32.to(at::kLong).bitwise_and(kUint32Limit - 1);
}

// counts (B, K) += votes of logits (B * n, K); invalid (B) += rows with a NaN / infinite logit. With
// num_valid_rows (an int64 scalar on the logits' device), only rows r < num_valid_rows vote: the padding
// rows of a fixed-shape batch are skipped without a host synchronisation (a CUDA value is not checked).
void argmax_count_op(at::Tensor& counts, at::Tensor& invalid, const at::Tensor& logits,
                     const std::optional<at::Tensor>& num_valid_rows) {
  const char* op = "argmax_count_";
  RSMOOTH_CHECK_VALUE(op, logits.dim() == 2, "logits must be (rows, num_classes), got shape ", logits.sizes());
  const at::ScalarType t = logits.scalar_type();
  RSMOOTH_CHECK_TYPE(op, is_supported_float(t) || t == at::kDouble,
                     "logits must be float32, float16, bfloat16 or float64, got ", t);
  RSMOOTH_CHECK_TYPE(op, counts.scalar_type() == at::kLong && invalid.scalar_type() == at::kLong,
                     "counts and invalid must be int64, got ", counts.scalar_type(), " and ",
                     invalid.scalar_type());
  RSMOOTH_CHECK_VALUE(op, counts.dim() == 2 && counts.size(1) == logits.size(1),
                      "counts must be (B, num_classes) with num_classes = ", logits.size(1),
                      " (the logits' width), got shape ", counts.sizes());
  RSMOOTH_CHECK_VALUE(op, counts.size(1) >= 1, "num_classes must be >= 1");
  const int64_t batch = counts.size(0);
  RSMOOTH_CHECK_VALUE(op, invalid.dim() == 1 && invalid.size(0) == batch, "invalid must have shape (",
                      batch, ",), got ", invalid.sizes());
  RSMOOTH_CHECK_VALUE(op, (batch == 0 && logits.size(0) == 0) || (batch > 0 && logits.size(0) % batch == 0),
                      "logits has ", logits.size(0), " rows, which is not a multiple of B = ", batch);
  RSMOOTH_CHECK_VALUE(op, counts.device() == logits.device() && invalid.device() == logits.device(),
                      "counts, invalid and logits must be on one device, got ", counts.device(), ", ",
                      invalid.device(), " and ", logits.device());
  RSMOOTH_CHECK_VALUE(op, counts.is_contiguous() && invalid.is_contiguous(),
                      "counts and invalid must be contiguous");
  at::Tensor valid;
  if (num_valid_rows.has_value()) {
    valid = num_valid_rows->contiguous();
    RSMOOTH_CHECK_TYPE(op, valid.scalar_type() == at::kLong, "num_valid_rows must be int64, got ",
                       valid.scalar_type());
    RSMOOTH_CHECK_VALUE(op, valid.numel() == 1 && valid.dim() <= 1,
                        "num_valid_rows must be a scalar (shape () or (1,)), got shape ", valid.sizes());
    RSMOOTH_CHECK_VALUE(op, valid.device() == logits.device(), "num_valid_rows must be on the logits' device ",
                        logits.device(), ", got ", valid.device());
    if (valid.is_cpu()) {
      const int64_t v = *valid.data_ptr<int64_t>();
      RSMOOTH_CHECK_VALUE(op, v >= 0 && v <= logits.size(0), "num_valid_rows must be in [0, ", logits.size(0),
                          "] (the logits' rows), got ", v);
    }
  }
  const DeviceGuard guard(logits.device());
  if (logits.size(0) == 0) return;
  const at::Tensor rows = logits.stride(1) == 1 ? logits : logits.contiguous();
  CountArgs a;
  a.logits = rows.data_ptr();
  a.row_stride = rows.stride(0);
  a.num_rows = rows.size(0);
  a.num_classes = rows.size(1);
  a.rows_per_input = rows.size(0) / batch;
  a.dtype = t == at::kDouble ? LogitDtype::Float64 : t == at::kHalf ? LogitDtype::Float16
          : t == at::kBFloat16 ? LogitDtype::BFloat16 : LogitDtype::Float32;
  a.counts = counts.data_ptr<int64_t>();
  a.invalid = invalid.data_ptr<int64_t>();
  a.num_valid_rows = valid.defined() ? valid.data_ptr<int64_t>() : nullptr;
  run_on_device(op, logits, [&] { argmax_count_cpu(a); }, [&](auto stream) { argmax_count_cuda(a, stream); });
}

std::string build_info() {
#ifdef RSMOOTH_WITH_CUDA
  const bool cuda = true;
#else
  const bool cuda = false;
#endif
  return std::string("cpu=1;cuda=") + (cuda ? "1" : "0") + ";cuda_archs=" + RSMOOTH_CUDA_ARCHS +
         ";cuda_version=" + RSMOOTH_CUDA_VERSION + ";torch_version=" + RSMOOTH_TORCH_VERSION;
}

}  // namespace
}  // namespace rsmooth

TORCH_LIBRARY(rsmooth_ext, m) {
  m.set_python_module("rsmooth_ext._meta");
  m.def(
      "perturb(Tensor x, str family, float[] params, int num_samples, int seed, int offset, "
      "int phase, Tensor? input_ids, ScalarType? out_dtype, bool channels_last, Tensor? rng_state=None, "
      "Tensor? table=None) -> Tensor");
  m.def(
      "perturb_out(Tensor(a!) out, Tensor x, str family, float[] params, int num_samples, "
      "int seed, int offset, int phase, Tensor? input_ids, bool channels_last, Tensor? rng_state=None, "
      "Tensor? table=None) -> ()");
  m.def("argmax_count_(Tensor(a!) counts, Tensor(b!) invalid, Tensor logits, Tensor? num_valid_rows=None) -> ()");
  m.def("philox4x32_10(Tensor counters, int key0, int key1) -> Tensor");
  m.def("build_info() -> str", &rsmooth::build_info);
}

TORCH_LIBRARY_IMPL(rsmooth_ext, CPU, m) {
  m.impl("perturb", &rsmooth::perturb_op);
  m.impl("perturb_out", &rsmooth::perturb_out_op);
  m.impl("argmax_count_", &rsmooth::argmax_count_op);
  m.impl("philox4x32_10", &rsmooth::philox_op);
}

#ifdef RSMOOTH_WITH_CUDA
TORCH_LIBRARY_IMPL(rsmooth_ext, CUDA, m) {
  m.impl("perturb", &rsmooth::perturb_op);
  m.impl("perturb_out", &rsmooth::perturb_out_op);
  m.impl("argmax_count_", &rsmooth::argmax_count_op);
  m.impl("philox4x32_10", &rsmooth::philox_op);
}
#endif

// `import rsmooth_ext._C` loads this library, which runs the registrations above.
static struct PyModuleDef rsmooth_module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&rsmooth_module); }
