"""The sampling loop shared by every Monte Carlo estimate of the smoothed classifier: noise batches drawn by the
fused perturb op into one reused buffer, the model's forward passes (eager or compiled, see ``forward``), the
argmax votes counted on the device, and the distributed reduction of the counts."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .._checks import check_int
from .._ops import as_uint32_ids, check_input_ids, check_perturb_inputs, launch_perturb
from ..seeding import resolve_seed
from . import distributed as dist
from .forward import ForwardPasses
from .tuning import resolve_fast


class EvalMode:
    """model.eval() (for an nn.Module) under torch.inference_mode(), restoring the training flag afterwards."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = getattr(self.model, "training", None)
        if self.was_training is not None:
            self.model.eval()
        self.inference = torch.inference_mode()
        self.inference.__enter__()

    def __exit__(self, *exc):
        self.inference.__exit__(*exc)
        if self.was_training is not None:
            self.model.train(self.was_training)


def check_model_and_batch(model, x) -> None:
    if not callable(model):
        raise TypeError(f"model must be a callable torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"x must be a batch (B, *shape) of inputs, got shape {tuple(x.shape)}")
    if isinstance(model, torch.nn.Module):
        for tensor in model.parameters():
            if tensor.device != x.device:
                raise ValueError(f"x is on {x.device} but the model's parameters are on {tensor.device}")
            break


class Sampler:
    """The sampling loop shared by counts and soft predictions: noise batches of at most ``batch_size``
    rows (whole inputs when n <= batch_size, else chunks of one input's samples), written into one
    reused buffer, through the model."""

    def __init__(self, model, x, noise, n, *, batch_size, seed, input_ids, num_classes, out_dtype, channels_last,
                 distributed=False, autocast=None, compile=False, fast=False):
        check_model_and_batch(model, x)
        if not isinstance(distributed, bool):
            raise TypeError(f"distributed must be a bool, got {distributed!r}")
        self.distributed = distributed and dist.is_active()
        x = check_perturb_inputs(x, noise, out_dtype, channels_last)  # a sound spec's grid check or quantisation
        self.fast_choice = None
        if fast is not False or not isinstance(fast, bool):
            check_int("batch_size", batch_size, 1)
            if x.shape[0]:
                channels_last, autocast, compile, self.fast_choice = resolve_fast(
                    fast, model, x, noise, batch_size=batch_size, out_dtype=out_dtype, channels_last=channels_last,
                    autocast=autocast, compile=compile, distributed=self.distributed)
                if autocast is not None:  # the noisy batch is then written in the autocast dtype
                    out_dtype = None
        self.model, self.x, self.noise = model, x, noise
        self.n = check_int("n", n, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = resolve_seed(seed)
        if self.distributed and not isinstance(seed, numbers.Integral):
            # every rank must use the same seed: take rank 0's
            shared = torch.tensor([self.seed], dtype=torch.int64, device=x.device)
            torch.distributed.broadcast(shared, src=0)
            self.seed = int(shared.item())
        ids = check_input_ids(input_ids, x)
        self.input_ids = torch.arange(x.shape[0], device=x.device) if ids is None else ids
        self.launch_ids = as_uint32_ids(self.input_ids)  # checked once here: the op need not re-check (no sync)
        self.num_classes = None if num_classes is None else check_int("num_classes", num_classes, 1)
        self.passes = ForwardPasses(x, out_dtype, autocast, compile)
        self.out_dtype = self.passes.noisy_dtype
        self.channels_last = channels_last

    def batch_plan(self, n: int) -> list[tuple[int, int, int, int]]:
        """The noise batches of n samples per input, in a fixed order: (i0, i1, s0, s1) = samples s0 .. s1-1 of
        inputs i0 .. i1-1; whole inputs when n <= batch_size, else chunks of one input's samples. Under
        ``distributed``, only this rank's share of the n samples."""
        begin, end = dist.sample_share(n) if self.distributed else (0, n)
        share, batch, bs = end - begin, self.x.shape[0], self.batch_size
        if share == 0:
            return []
        per_batch = bs // share
        if per_batch >= 1:
            return [(i0, min(i0 + per_batch, batch), begin, end) for i0 in range(0, batch, per_batch)]
        return [(i, i + 1, s0, min(s0 + bs, end)) for i in range(batch) for s0 in range(begin, end, bs)]

    def batches(self, phase: int, n: int):
        """Yield (first input, number of inputs, logits) for every noise batch of ``batch_plan(n)``, written
        into one reused buffer."""
        plan = self.batch_plan(n)
        if not plan:
            return
        x = self.x
        shape = (max((i1 - i0) * (s1 - s0) for i0, i1, s0, s1 in plan), *x.shape[1:])
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        buffer = torch.empty(shape, dtype=self.out_dtype, device=x.device).contiguous(memory_format=fmt)
        for i0, i1, s0, s1 in plan:
            rows = buffer[: (i1 - i0) * (s1 - s0)]
            launch_perturb(x[i0:i1], self.noise, s1 - s0, self.seed, s0, phase, self.launch_ids[i0:i1], None,
                           self.channels_last, rows)
            yield i0, i1 - i0, self.logits(rows)

    def logits(self, rows, forward=None):
        """The model's logits (rows, K) on a noisy batch, under the forward passes' context (or by ``forward``,
        e.g. the compiled model); checks their shape and that K is the same for every batch."""
        if forward is not None:
            logits = forward(rows)
        else:
            with self.passes.context():
                logits = self.model(rows)
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != rows.shape[0]:
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(
                f"the model must return logits of shape (rows, num_classes) = ({rows.shape[0]}, K), got {got}"
            )
        if self.num_classes is None:
            self.num_classes = logits.shape[1]
        elif logits.shape[1] != self.num_classes:
            raise ValueError(f"the model returned {logits.shape[1]} classes, but num_classes={self.num_classes}")
        return logits

    def counts(self, phase: int, n: int):
        """Vote counts (B, K) of n samples per input and invalid-sample tallies (B,) on the device, without
        synchronising with the host (summed over ranks under ``distributed``)."""
        counts = invalid = None
        if self.passes.compiled:
            counts, invalid = self.passes.run(self, "count", phase, self.batch_plan(n)) or (None, None)
        for i0, m, logits in () if self.passes.compiled else self.batches(phase, n):
            if counts is None:
                counts, invalid = self.zero_counts(logits.shape[1])
            torch.ops.rsmooth_ext.argmax_count_.default(counts[i0 : i0 + m], invalid[i0 : i0 + m], logits)
        if self.distributed:
            width = torch.tensor([-1 if counts is None else counts.shape[1]], device=self.x.device)
            torch.distributed.all_reduce(width, op=torch.distributed.ReduceOp.MAX)
            if counts is None:
                counts, invalid = self.zero_counts(int(width.item()))
            dist.all_reduce_sum(counts, invalid)
        if counts is None:  # empty batch
            counts, invalid = self.zero_counts(self.num_classes or 0)
        return counts, invalid

    def zero_counts(self, num_classes):
        """Zero vote counts (B, num_classes) and invalid-sample tallies (B,), int64 on x's device."""
        batch = self.x.shape[0]
        return (torch.zeros(batch, num_classes, dtype=torch.int64, device=self.x.device),
                torch.zeros(batch, dtype=torch.int64, device=self.x.device))


def raise_if_invalid(invalid_total: np.ndarray, what: str) -> None:
    bad = int(invalid_total.sum())
    if bad:
        inputs = np.flatnonzero(invalid_total).tolist()
        raise FloatingPointError(
            f"{bad} {what} sample(s) gave NaN or infinite logits (inputs {inputs[:10]}"
            f"{' ...' if len(inputs) > 10 else ''}); they were not counted. Check the model and the noise level."
        )
