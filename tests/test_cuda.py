"""CPU vs CUDA: identical uint32 streams, noise within a few ulp, for the same seeds. Skipped without a
CUDA build and a GPU (the CPU paths are covered everywhere else)."""

import pytest
import torch
from conftest import all_noises, requires_cuda

import rsmooth_ext as rs
from rsmooth_ext._ops import philox4x32_10

pytestmark = requires_cuda


def test_philox_words_identical():
    counters = torch.randint(0, 2**32, (100000, 4))
    assert torch.equal(philox4x32_10(counters, (123, 456)), philox4x32_10(counters.cuda(), (123, 456)).cpu())


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 224, 224), (3, 7)])
@pytest.mark.parametrize("family_index", range(len(all_noises(16))))
def test_noise_agrees_across_devices(shape, family_index):
    dim = 1
    for s in shape[1:]:
        dim *= s
    noise = all_noises(dim)[family_index]
    x = torch.rand(*shape)
    num_samples = 8 if dim > 10000 else 64
    cpu = rs.perturb(x, noise, num_samples, seed=77, offset=3)
    gpu = rs.perturb(x.cuda(), noise, num_samples, seed=77, offset=3).cpu()
    scale = cpu.abs().amax(dim=tuple(range(1, cpu.dim())), keepdim=True) + 1
    # float32 results agree to a few ulp of the row's magnitude (FMA contraction and division rounding
    # differ between the host and the device)
    assert ((cpu - gpu).abs() / scale).max() < 8 * torch.finfo(torch.float32).eps
    if noise.family == "masking":  # no arithmetic: bit-identical
        assert torch.equal(cpu, gpu)


@pytest.mark.parametrize("out_dtype", [torch.float16, torch.bfloat16])
def test_low_precision_and_channels_last_on_cuda(out_dtype):
    x = torch.rand(2, 3, 8, 8, device="cuda")
    noise = rs.Gaussian(sigma=0.5)
    ref = rs.perturb(x, noise, 5, seed=1)
    out = rs.perturb(x, noise, 5, seed=1, out_dtype=out_dtype, channels_last=True)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, ref.to(out_dtype))


def test_cuda_invariance_to_batching():
    x = torch.rand(3, 3, 16, 16, device="cuda")
    noise = rs.Exp1(dim=768, sigma=0.5)
    full = rs.perturb(x, noise, 10, seed=4)
    part = rs.perturb(x[1:2], noise, 10, seed=4, input_ids=torch.tensor([1], device="cuda"))
    assert torch.equal(full[10:20], part)
