"""The gradient of ``rsmooth_ext::perturb`` with respect to x (training and attacks differentiate through the
fused noisy copies).

Row ``i * m + t`` of the output is ``x[i] + eps`` for the additive families (eps does not depend on x) and
``x[i] * keep`` for masking (the keep mask does not depend on x either). So:

* additive families: d out / d x[i] is the identity for each of the m copies, and the gradient of x[i] is the
  sum of the output gradient over its copies;
* masking: the gradient is the output gradient times the keep mask, summed over the copies. The mask is not
  stored: it is regenerated from the counters by running the same op on ones (a pure function of seed, input
  id, sample, element and phase), so the backward costs one more fused pass and no activation memory.

The other arguments (the noise's parameters, the seed, the counters) are not differentiable.
"""

from __future__ import annotations

import torch

from . import _meta  # noqa: F401  (the schemas and their fake kernels come first)

_MASK_FAMILIES = ("masking",)


def _setup_context(ctx, inputs, output):
    x, family, params, num_samples, seed, offset, phase, input_ids, out_dtype, channels_last, *rest = inputs
    ctx.rows, ctx.x_dtype, ctx.num_samples, ctx.num_inputs = x.shape[0], x.dtype, num_samples, len(inputs)
    ctx.mask_args = None
    if family in _MASK_FAMILIES:
        # what regenerates the keep mask: the same counters applied to ones (never the values of x)
        ctx.mask_args = (family, params, num_samples, seed, offset, phase, out_dtype, channels_last)
        ctx.save_for_backward(x, input_ids, rest[0] if rest else None)


def _keep_mask(ctx) -> torch.Tensor:
    x, input_ids, rng_state = ctx.saved_tensors
    family, params, num_samples, seed, offset, phase, out_dtype, channels_last = ctx.mask_args
    ones = torch.ones_like(x, memory_format=torch.contiguous_format)
    return torch.ops.rsmooth_ext.perturb.default(ones, family, params, num_samples, seed, offset, phase, input_ids,
                                                 out_dtype, channels_last, rng_state)


def _backward(ctx, grad):
    grad_x = None
    if ctx.needs_input_grad[0]:
        g = grad.float()
        if ctx.mask_args is not None:
            g = g * _keep_mask(ctx).float()
        grad_x = g.reshape(ctx.rows, ctx.num_samples, *g.shape[1:]).sum(dim=1).to(ctx.x_dtype)
    return (grad_x,) + (None,) * (ctx.num_inputs - 1)  # one per schema argument; only x is differentiable


torch.library.register_autograd("rsmooth_ext::perturb", _backward, setup_context=_setup_context)
