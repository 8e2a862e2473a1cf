"""Fake (meta) kernels of the rsmooth_ext ops: shapes and dtypes only, for torch.compile and opcheck."""

import torch

from . import _C  # noqa: F401  (the schemas must be registered first)

_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@torch.library.register_fake("rsmooth_ext::perturb")
def _perturb_fake(x, family, params, num_samples, seed, offset, phase, input_ids, out_dtype, channels_last,
                  rng_state=None, table=None):
    torch._check(x.dim() >= 1, lambda: "x must be a batch (B, *shape)")
    dtype = x.dtype if out_dtype is None else out_dtype
    torch._check(dtype in _FLOAT_DTYPES, lambda: f"out_dtype must be float32/float16/bfloat16, got {dtype}")
    shape = (x.shape[0] * num_samples, *x.shape[1:])
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return x.new_empty(shape, dtype=dtype).contiguous(memory_format=fmt)


@torch.library.register_fake("rsmooth_ext::perturb_out")
def _perturb_out_fake(out, x, family, params, num_samples, seed, offset, phase, input_ids, channels_last,
                      rng_state=None, table=None):
    torch._check(out.shape[0] == x.shape[0] * num_samples, lambda: "out has the wrong number of rows")
    return None


@torch.library.register_fake("rsmooth_ext::philox4x32_10")
def _philox_fake(counters, key0, key1):
    return torch.empty_like(counters)


@torch.library.register_fake("rsmooth_ext::argmax_count_")
def _argmax_count_fake(counts, invalid, logits, num_valid_rows=None):
    torch._check(logits.dim() == 2, lambda: "logits must be (rows, num_classes)")
    torch._check(counts.shape[1] == logits.shape[1], lambda: "counts must be (B, num_classes)")
    return None
