"""Op registration: opcheck (schema, fake kernels, autograd registration), torch.compile, build info."""

import pytest
import torch
from support import DEVICES

import rsmooth_ext as rs


def perturb_samples(device):
    x = torch.rand(2, 3, 4, 4, device=device)
    ids = torch.tensor([3, 9], device=device)
    yield (x, "gaussian", [0.5], 3, 7, 0, 0, None, None, False)
    yield (x, "lomax", [0.5, 3.0], 2, 7, 5, 1, ids, torch.float16, True)
    yield (x.bfloat16(), "exp2", [0.5, 1.0], 2, 2**40, 0, 0, None, torch.float32, False)
    yield (x, "expinf", [0.5, 2.0], 1, 1, 0, 0, ids, None, True)
    yield (torch.rand(0, 5, device=device), "masking", [0.5], 4, 0, 0, 0, None, None, False)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_perturb(device):
    for args in perturb_samples(device):
        torch.library.opcheck(torch.ops.rsmooth_ext.perturb.default, args)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_perturb_out(device):
    x = torch.rand(2, 3, 4, 4, device=device)
    out = torch.empty(6, 3, 4, 4, device=device, dtype=torch.bfloat16)
    torch.library.opcheck(torch.ops.rsmooth_ext.perturb_out.default,
                          (out, x, "exp1", [0.5, 1.0], 3, 1, 0, 0, None, False))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_philox(device):
    counters = torch.randint(0, 2**32, (10, 4), device=device)
    torch.library.opcheck(torch.ops.rsmooth_ext.philox4x32_10.default, (counters, 1, 2))


def test_torch_compile_fullgraph():
    noise = rs.Gaussian(sigma=0.5)

    def f(x):
        return torch.ops.rsmooth_ext.perturb.default(x, noise.family, noise.params, 4, 1, 0, 0, None, None,
                                                     False).sum(dim=0)

    x = torch.rand(2, 8)
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(x), f(x))


def test_build_info():
    info = rs.build_info()
    assert info["cpu"] is True
    assert isinstance(info["cuda"], bool)
    assert info["torch_version_built"]
    if info["cuda"]:
        assert info["cuda_archs"] and info["cuda_version"]
    assert rs.cuda_built() == info["cuda"]


def test_cuda_tensors_without_cuda_kernels_give_a_clear_error():
    if rs.cuda_built():
        pytest.skip("this build has CUDA kernels")
    if not torch.cuda.is_available():
        pytest.skip("no GPU to place a tensor on")
    with pytest.raises(RuntimeError, match="no CUDA kernels"):
        rs.perturb(torch.rand(1, 3, device="cuda"), rs.Gaussian(sigma=1.0), 1, seed=0)
