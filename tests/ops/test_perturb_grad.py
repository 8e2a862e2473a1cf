"""The gradient of perturb with respect to x: against autograd of the reference path (repeat the batch, add the
noise as a constant, or multiply by the keep mask), against finite differences, through dtypes, channels_last,
input ids, the tensor-state form, opcheck's autograd checks and torch.compile."""

import pytest
import torch
from support import DEVICES, all_noises

import rsmooth_ext as rs

NOISES = all_noises(3 * 4 * 5)
IDS = [n.family for n in NOISES]


def _reference_copies(x: torch.Tensor, noisy: torch.Tensor, noise, m: int) -> torch.Tensor:
    """The anchors' way, differentiable: x repeated m times, then the (constant) noise added, or the keep mask
    multiplied for masking (the mask read from the op applied to ones, as the fused backward does not)."""
    repeated = x.repeat_interleave(m, dim=0).float()
    if noise.family == "masking":
        keep = (noisy.float() != 0) | (repeated == 0)  # x > 0 below, so a zero output is a masked coordinate
        return repeated * keep.float()
    return repeated + (noisy.float() - repeated).detach()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_gradient_matches_autograd_of_the_reference_path(device, noise):
    m = 3
    x0 = 0.1 + torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(1)).to(device)  # x > 0
    weights = torch.randn(2 * m, 3, 4, 5, generator=torch.Generator().manual_seed(2)).to(device)
    x = x0.clone().requires_grad_()
    noisy = rs.perturb(x, noise, m, seed=5, offset=7)
    (noisy * weights).sum().backward()
    xr = x0.clone().requires_grad_()
    (_reference_copies(xr, noisy.detach(), noise, m) * weights).sum().backward()
    assert torch.allclose(x.grad, xr.grad, rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Input #0 requires gradient")  # the op takes float32 at most: float32 steps
@pytest.mark.parametrize("family", ["gaussian", "masking", "exp2"])
def test_gradient_against_finite_differences(family):
    noise = {n.family: n for n in NOISES}[family]
    x = (0.1 + torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(3))).requires_grad_()

    def f(x):
        return rs.perturb(x, noise, 4, seed=11)

    torch.autograd.gradcheck(f, (x,), eps=1e-2, atol=5e-3, rtol=5e-3, fast_mode=True)


@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gradient_in_every_output_dtype_and_layout(out_dtype, channels_last):
    m = 4
    x = torch.rand(3, 2, 4, 4, requires_grad=True)
    ids = torch.tensor([10, 0, 7])
    for noise in (rs.Gaussian(sigma=0.5), rs.Masking(0.25)):
        noisy = rs.perturb(x, noise, m, seed=1, input_ids=ids, out_dtype=out_dtype, channels_last=channels_last)
        w = torch.randn(noisy.shape).to(out_dtype)
        (noisy * w).float().sum().backward()
        expected = w.float()
        if noise.family == "masking":
            expected = expected * rs.perturb(torch.ones_like(x), noise, m, seed=1, input_ids=ids).float()
        expected = expected.reshape(3, m, 2, 4, 4).sum(1)
        assert x.grad.dtype == torch.float32 and x.grad.is_contiguous()
        assert torch.allclose(x.grad, expected, rtol=1e-2 if out_dtype != torch.float32 else 1e-6, atol=1e-2)
        x.grad = None


def test_gradient_of_a_half_precision_input_has_its_dtype():
    x = torch.rand(2, 8).bfloat16().requires_grad_()
    rs.perturb(x, rs.Laplace(sigma=0.5), 3, seed=0, out_dtype=torch.float32).sum().backward()
    assert x.grad.dtype == torch.bfloat16 and torch.equal(x.grad, torch.full_like(x, 3.0))


def test_tensor_state_form_regenerates_the_same_mask():
    """The compiled sampling step passes (seed, first sample, phase) as a tensor: the backward's mask must be
    the one of that state, not of the int arguments."""
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    state = torch.tensor([9, 4, 1])
    noise = rs.Masking(0.5)
    noisy = torch.ops.rsmooth_ext.perturb.default(x, noise.family, noise.params, 3, 0, 0, 0, None, None, False, state)
    noisy.sum().backward()
    mask = rs.perturb(torch.ones_like(x), noise, 3, seed=9, offset=4, phase=1)
    assert torch.equal(x.grad, mask.reshape(2, 3, 3, 4, 4).sum(1))


def test_opcheck_with_gradients():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    ids = torch.tensor([3, 9])
    for args in [(x, "gaussian", [0.5], 3, 7, 0, 0, None, None, False),
                 (x, "masking", [0.5], 2, 7, 5, 1, ids, torch.bfloat16, True),
                 (x, "exp1", [0.5, 1.0], 2, 0, 0, 0, None, None, False, torch.tensor([1, 2, 0]))]:
        torch.library.opcheck(torch.ops.rsmooth_ext.perturb.default, args)


def test_compiled_backward_matches_eager():
    noise = rs.Masking(0.5)

    def loss(x):
        return (rs.perturb(x, noise, 4, seed=3) ** 2).sum()

    x = torch.rand(2, 6, requires_grad=True)
    eager = torch.autograd.grad(loss(x), x)[0]
    compiled = torch.autograd.grad(torch.compile(loss, backend="aot_eager", fullgraph=True)(x), x)[0]
    assert torch.equal(eager, compiled)


def test_no_gradient_is_recorded_for_inputs_without_grad():
    noisy = rs.perturb(torch.rand(2, 5), rs.Gaussian(sigma=0.5), 2, seed=0)
    assert not noisy.requires_grad and noisy.grad_fn is None
