"""Thin typed wrappers over torch.ops.rsmooth_ext.*, with the Python-side argument checks."""

from __future__ import annotations

import math

import torch

from . import _autograd  # noqa: F401  (registers the ops, their fake kernels and perturb's gradient)
from ._checks import check_int
from .noises import NOISES, Noise
from .seeding import resolve_seed

_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_UINT32_LIMIT = 2**32


def check_input_ids(input_ids: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """Validate user-given input ids: (B,), on x's device, int64 with values in [0, 2^32) (on CUDA the value check
    reads back to the host) or uint32 (every value is one: no check, no host read; ``as_uint32_ids``)."""
    if input_ids is None:
        return None
    if not isinstance(input_ids, torch.Tensor):
        input_ids = torch.as_tensor(input_ids, device=x.device)
    if input_ids.dtype not in (torch.int64, torch.uint32):
        raise TypeError(f"input_ids must be an int64 or uint32 tensor, got {input_ids.dtype}")
    if input_ids.shape != (x.shape[0],):
        raise ValueError(f"input_ids must have shape (B,) = ({x.shape[0]},), got {tuple(input_ids.shape)}")
    if input_ids.device != x.device:
        raise ValueError(f"input_ids must be on x's device {x.device}, got {input_ids.device}")
    if input_ids.dtype == torch.int64 and input_ids.numel() and (
            int(input_ids.min()) < 0 or int(input_ids.max()) >= _UINT32_LIMIT):
        raise ValueError(
            f"input_ids must lie in [0, 2^32), got min {int(input_ids.min())}, max {int(input_ids.max())}"
        )
    return input_ids


def as_uint32_ids(input_ids: torch.Tensor) -> torch.Tensor:
    """Checked input ids (see ``check_input_ids``) as a uint32 tensor: the form the raw op takes without
    re-checking (on CUDA a check reads back to the host, which the sampling loop, a training step or an attack
    step and CUDA graph capture must not do). Values in [0, 2^32) keep their value (int64 -> int32 keeps the low
    32 bits)."""
    if input_ids.dtype == torch.uint32:
        return input_ids
    return input_ids.to(torch.int32).view(torch.uint32)


def perturb(
    x: torch.Tensor,
    noise: Noise,
    num_samples: int,
    *,
    seed: int | torch.Generator | None,
    offset: int = 0,
    input_ids: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    out: torch.Tensor | None = None,
    phase: int = 0,
) -> torch.Tensor:
    """Noisy copies of a batch in one fused pass: returns (B * num_samples, *shape), input-major.

    Row ``i * num_samples + t`` is ``x[i] + eps`` with eps the noise of sample ``s = offset + t`` of input
    ``input_ids[i]`` (default ``i``) under ``seed``: a pure function of (seed, input id, s, element, phase),
    the same whatever the batch size, chunking, thread count or device. Computed in float32 and written
    once in ``out_dtype`` (default ``x.dtype``), optionally channels_last (4-d x), optionally into ``out``.
    ``phase`` separates independent streams (certify draws its selection and estimation samples in
    different phases)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1:
        raise ValueError(f"x must be a batch (B, *shape), got a {x.dim()}-d tensor")
    x = check_perturb_inputs(x, noise, out_dtype, channels_last)
    num_samples = check_int("num_samples", num_samples, 0)
    offset = check_int("offset", offset, 0)
    phase = check_int("phase", phase, 0)
    if offset + num_samples > _UINT32_LIMIT:
        raise ValueError(f"offset + num_samples must be <= 2^32, got offset={offset}, num_samples={num_samples}")
    seed = resolve_seed(seed)
    input_ids = check_input_ids(input_ids, x)
    if out is not None:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}")
        if out_dtype is not None and out.dtype != out_dtype:
            raise ValueError(f"out has dtype {out.dtype} but out_dtype={out_dtype}")
    ids = None if input_ids is None else as_uint32_ids(input_ids)  # checked above: the op need not check again
    return launch_perturb(x, noise, num_samples, seed, offset, phase, ids, out_dtype, channels_last, out)


def check_perturb_inputs(x: torch.Tensor, noise, out_dtype, channels_last) -> torch.Tensor:
    """The checks of a batch, a noise spec and an output layout that ``perturb`` and the sampling loop share;
    returns x as the kernels take it (a sound spec checks it lies on its grid, or quantises it)."""
    if not isinstance(noise, Noise):
        specs = ", ".join(cls.__name__ for cls in NOISES.values())
        raise TypeError(f"noise must be an rsmooth_ext noise spec (an instance of one of {specs}), got {noise!r}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"x must be float32, float16 or bfloat16, got {x.dtype}")
    if out_dtype is not None and out_dtype not in _FLOAT_DTYPES:
        raise TypeError(f"out_dtype must be torch.float32, torch.float16 or torch.bfloat16, got {out_dtype}")
    if not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be a bool, got {channels_last!r}")
    if channels_last and x.dim() != 4:
        raise ValueError(f"channels_last needs a 4-d x (B, C, H, W), got shape {tuple(x.shape)}")
    noise.check_input_dim(math.prod(x.shape[1:]))
    return noise.prepare_input(x, out_dtype)


def launch_perturb(x, noise, num_samples, seed, offset, phase, input_ids, out_dtype, channels_last, out):
    """The op call behind ``perturb``, for arguments already checked (the sampling loop validates once per
    call, not per batch: checking input ids on a GPU would synchronise with the host)."""
    family, params, table = noise.kernel_family, noise.kernel_params, noise.kernel_table(x.device)
    if out is None:
        return torch.ops.rsmooth_ext.perturb.default(
            x, family, params, num_samples, seed, offset, phase, input_ids, out_dtype, channels_last, None, table
        )
    torch.ops.rsmooth_ext.perturb_out.default(
        out, x, family, params, num_samples, seed, offset, phase, input_ids, channels_last, None, table
    )
    return out


def philox4x32_10(counters: torch.Tensor, key: tuple[int, int]) -> torch.Tensor:
    """Philox4x32-10 of explicit counters (N, 4) (uint32 values in int64) under key (k0, k1)."""
    return torch.ops.rsmooth_ext.philox4x32_10.default(counters, int(key[0]), int(key[1]))


def build_info() -> dict:
    """What this build of the extension contains: CPU and CUDA kernels, CUDA archs, torch and CUDA versions."""
    raw = torch.ops.rsmooth_ext.build_info.default()
    info = dict(item.split("=", 1) for item in raw.split(";"))
    return {
        "cpu": info["cpu"] == "1",
        "cuda": info["cuda"] == "1",
        "cuda_archs": info["cuda_archs"] or None,
        "cuda_version": info["cuda_version"] or None,
        "torch_version_built": info["torch_version"],
        "torch_version_runtime": torch.__version__,
    }


def cuda_built() -> bool:
    """True when this build contains the CUDA kernels."""
    return build_info()["cuda"]
