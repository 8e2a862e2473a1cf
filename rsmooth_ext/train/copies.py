"""The noisy copies of one training step: the fused ``perturb`` of the batch, differentiable with respect to
x, with noise that is a pure function of (seed, epoch, example index, copy index).

The epoch enters through the Philox key (``epoch_seed``), the example through the input id and the copy
through the sample counter, so a resumed run draws exactly the noise of an uninterrupted one, and a method
that asks for the copies of the same batch twice (an attack, then the loss) gets the same noise."""

from __future__ import annotations

import hashlib

import torch

from .._checks import check_int
from .._ops import as_uint32_ids, check_input_ids, perturb
from ..noises import Noise
from ..seeding import SEED_LIMIT, Phase, resolve_seed


def epoch_seed(seed: int, epoch: int, stream: str = "noise") -> int:
    """The seed of ``stream`` in epoch ``epoch`` of a run seeded ``seed``: 63 bits of
    SHA-256("stream:seed:epoch"). The training noise ('noise'), the data order ('order'), the augmentation
    ('augment'), the model's own randomness ('model', e.g. dropout) and the test noise ('test') are
    independent streams, and no two (seed, epoch) pairs share one by arithmetic."""
    seed, epoch = resolve_seed(seed), check_int("epoch", epoch, 0)
    digest = hashlib.sha256(f"rsmooth-train:{stream}:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % SEED_LIMIT


class NoisyCopies:
    """``copies(x, m, offset=0)``: the (B * m, *shape) noisy copies of batch ``x`` for this step, input-major
    (row b * m + j is copy ``offset + j`` of example ``example_ids[b]``), differentiable with respect to x.

    Written in the autocast dtype when autocast is on for x's device (else x's dtype) and channels_last when
    asked (4-d x). ``noise`` is the spec (methods read e.g. its sigma)."""

    def __init__(self, noise: Noise, seed: int, epoch: int, example_ids: torch.Tensor, *,
                 channels_last: bool = False, stream: str = "noise"):
        if not isinstance(noise, Noise):
            raise TypeError(f"noise must be an rsmooth_ext noise spec, got {noise!r}")
        if not isinstance(example_ids, torch.Tensor) or example_ids.dim() != 1:
            raise ValueError(f"example_ids must be a (B,) tensor, got {getattr(example_ids, 'shape', example_ids)}")
        self.noise = noise
        self.seed = epoch_seed(seed, epoch, stream)
        # checked once here (values in [0, 2^32)); each call passes them as uint32, which perturb need not check:
        # no host read on CUDA per step
        self.example_ids = check_input_ids(example_ids.to(torch.int64), example_ids)
        self.channels_last = bool(channels_last)
        self._device_ids: dict[torch.device, torch.Tensor] = {}

    def __call__(self, x: torch.Tensor, m: int, *, offset: int = 0) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] != self.example_ids.shape[0]:
            raise ValueError(f"copies: x must be the step's batch of {self.example_ids.shape[0]} examples, "
                             f"got shape {tuple(getattr(x, 'shape', ()))}")
        out_dtype = None
        if torch.is_autocast_enabled(x.device.type):
            out_dtype = torch.get_autocast_dtype(x.device.type)
        ids = self._device_ids.get(x.device)
        if ids is None:  # one host-to-device copy per step and device, however many times a method draws
            ids = self._device_ids[x.device] = as_uint32_ids(self.example_ids.to(x.device))
        return perturb(x, self.noise, check_int("m", m, 1), seed=self.seed, offset=offset, input_ids=ids,
                       out_dtype=out_dtype, channels_last=self.channels_last and x.dim() == 4, phase=Phase.TRAINING)
