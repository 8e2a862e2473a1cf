"""The perturb op's contract: noise is a pure function of (seed, input id, sample, element, phase);
dtypes, memory formats, buffers, edge cases and errors."""

import pytest
import torch
from support import DEVICES, all_noises

import rsmooth_ext as rs
from rsmooth_ext._ops import as_uint32_ids

NOISES = all_noises(3 * 5 * 6)
IDS = [n.family for n in NOISES]


def _x(batch=3, device="cpu", dtype=torch.float32):
    return torch.rand(batch, 3, 5, 6, generator=torch.Generator().manual_seed(0)).to(device, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_batch_chunk_offset_and_input_ids_invariance(device, noise):
    x = _x(device=device)
    full = rs.perturb(x, noise, 10, seed=42)
    # one input at a time, with its input id
    for i in range(3):
        single = rs.perturb(x[i : i + 1], noise, 10, seed=42, input_ids=torch.tensor([i], device=device))
        assert torch.equal(single, full[10 * i : 10 * (i + 1)])
    # samples in chunks, via offset
    chunks = [rs.perturb(x, noise, 4, seed=42, offset=0), rs.perturb(x, noise, 6, seed=42, offset=4)]
    for i in range(3):
        assert torch.equal(torch.cat([c[4 * i : 4 * i + 4] for c in chunks[:1]] + [chunks[1][6 * i : 6 * i + 6]]),
                           full[10 * i : 10 * (i + 1)])
    # inputs in another order keep their noise through input_ids
    perm = torch.tensor([2, 0, 1], device=device)
    permuted = rs.perturb(x[perm], noise, 10, seed=42, input_ids=perm)
    for j, i in enumerate(perm.tolist()):
        assert torch.equal(permuted[10 * j : 10 * (j + 1)], full[10 * i : 10 * (i + 1)])


@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_thread_count_invariance(noise):
    x = _x()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = rs.perturb(x, noise, 50, seed=3)
        torch.set_num_threads(max(2, threads))
        many = rs.perturb(x, noise, 50, seed=3)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)


@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_seeds_and_phases_give_different_noise(noise):
    x = _x(1)
    a = rs.perturb(x, noise, 4, seed=1)
    assert not torch.equal(a, rs.perturb(x, noise, 4, seed=2))
    assert not torch.equal(a, rs.perturb(x, noise, 4, seed=1, phase=1))
    assert torch.equal(a, rs.perturb(x, noise, 4, seed=1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", NOISES, ids=IDS)
@pytest.mark.parametrize("out_dtype", [torch.float16, torch.bfloat16])
def test_low_precision_output_is_the_rounded_float32_output(device, noise, out_dtype):
    x = _x(device=device)
    ref = rs.perturb(x, noise, 7, seed=5)
    low = rs.perturb(x, noise, 7, seed=5, out_dtype=out_dtype)
    assert low.dtype == out_dtype
    assert torch.equal(low, ref.to(out_dtype))


@pytest.mark.parametrize("out_dtype", [torch.float16, torch.bfloat16])
def test_rounding_of_special_values(out_dtype):
    """Masking(keep=1) copies x, so this checks our float -> half / bfloat16 rounding against torch's:
    ties, subnormals, overflow to inf, inf and NaN."""
    specials = torch.tensor([0.0, -0.0, 1.0, 65504.0, 65519.99, 65520.0, 1e6, -1e6, float("inf"), float("-inf"),
                             5.96e-8, 2.98e-8, 2.99e-8, 1e-10, 6.1e-5, 1.0 + 2**-11, 1.0 + 3 * 2**-11, 3.4e38,
                             1.0 + 2**-8, 1.0 + 3 * 2**-8])
    values = torch.cat([specials, torch.randn(10000) * 10.0 ** torch.randint(-9, 6, (10000,)).float()])
    out = rs.perturb(values[None], rs.Masking(keep=1.0), 1, seed=0, out_dtype=out_dtype)[0]
    assert torch.equal(out, values.to(out_dtype))
    nan = rs.perturb(torch.tensor([[float("nan")]]), rs.Masking(keep=1.0), 1, seed=0, out_dtype=out_dtype)
    assert torch.isnan(nan).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", NOISES, ids=IDS)
@pytest.mark.parametrize("x_dtype", [torch.float16, torch.bfloat16])
def test_low_precision_input_is_computed_in_float32(device, noise, x_dtype):
    x = _x(device=device, dtype=x_dtype)
    out = rs.perturb(x, noise, 3, seed=9)
    assert out.dtype == x_dtype
    assert torch.equal(out, rs.perturb(x.float(), noise, 3, seed=9, out_dtype=x_dtype))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_channels_last_output_holds_the_same_values(device, noise):
    x = _x(device=device)
    ref = rs.perturb(x, noise, 4, seed=11)
    cl = rs.perturb(x, noise, 4, seed=11, channels_last=True)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(cl, ref)
    cl_input = rs.perturb(x.contiguous(memory_format=torch.channels_last), noise, 4, seed=11)
    assert torch.equal(cl_input, ref)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_non_contiguous_input(device, noise):
    base = torch.rand(3, 6, 5, 6, device=device)
    x = base[:, ::2]
    assert not x.is_contiguous()
    assert torch.equal(rs.perturb(x, noise, 3, seed=1), rs.perturb(x.contiguous(), noise, 3, seed=1))


@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_out_buffer_is_written_and_returned(noise):
    x = _x()
    buf = torch.full((12, 3, 5, 6), float("nan"))
    res = rs.perturb(x, noise, 4, seed=8, out=buf)
    assert res is buf
    assert torch.equal(buf, rs.perturb(x, noise, 4, seed=8))
    cl = torch.empty(12, 3, 5, 6).contiguous(memory_format=torch.channels_last)
    rs.perturb(x, noise, 4, seed=8, out=cl, channels_last=True)
    assert torch.equal(cl, buf)


def test_empty_batch_zero_samples_and_1d_inputs():
    g = rs.Gaussian(sigma=1.0)
    assert rs.perturb(torch.empty(0, 3, 4), g, 5, seed=0).shape == (0, 3, 4)
    assert rs.perturb(torch.rand(2, 3, 4), g, 0, seed=0).shape == (0, 3, 4)
    assert rs.perturb(torch.rand(4), g, 3, seed=0).shape == (12,)
    assert rs.perturb(torch.rand(2, 1), rs.ExpInf(dim=1, sigma=1.0), 3, seed=0).shape == (6, 1)


def test_seed_from_generator_is_reproducible():
    g = rs.Gaussian(sigma=1.0)
    x = _x(1)
    a = rs.perturb(x, g, 3, seed=torch.Generator().manual_seed(5))
    b = rs.perturb(x, g, 3, seed=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    torch.manual_seed(3)
    c = rs.perturb(x, g, 3, seed=None)
    torch.manual_seed(3)
    assert torch.equal(c, rs.perturb(x, g, 3, seed=None))


BAD_CALLS = [
    (dict(x=torch.tensor(1.0)), ValueError, "x must be a batch"),
    (dict(x=torch.ones(2, 3, dtype=torch.float64)), TypeError,
     "x must be float32, float16 or bfloat16, got torch.float64"),
    (dict(x=[1.0]), TypeError, "x must be a torch.Tensor"),
    (dict(noise="gaussian"), TypeError, "noise must be an rsmooth_ext noise spec"),
    (dict(num_samples=-1), ValueError, "num_samples must be >= 0, got -1"),
    (dict(num_samples=2.5), TypeError, "num_samples must be an int"),
    (dict(seed=-1), ValueError, r"seed must be in \[0, 2\^63\), got -1"),
    (dict(seed=2**63), ValueError, r"seed must be in \[0, 2\^63\)"),
    (dict(seed=1.5), TypeError, "seed must be an int, a torch.Generator or None"),
    (dict(offset=-3), ValueError, "offset must be >= 0, got -3"),
    (dict(offset=2**32 - 2), ValueError, "offset \\+ num_samples must be <= 2\\^32"),
    (dict(phase=-1), ValueError, "phase must be >= 0"),
    (dict(out_dtype=torch.int32), TypeError, "out_dtype must be torch.float32, torch.float16 or torch.bfloat16"),
    (dict(channels_last=True, x=torch.ones(2, 3)), ValueError, "channels_last needs a 4-d x"),
    (dict(input_ids=torch.tensor([0, 1])), ValueError, r"input_ids must have shape \(B,\) = \(3,\), got \(2,\)"),
    (dict(input_ids=torch.tensor([0, 1, 2], dtype=torch.int32)), TypeError,
     "input_ids must be an int64 or uint32 tensor"),
    (dict(input_ids=torch.tensor([0, 1, 2**32])), ValueError, r"input_ids must lie in \[0, 2\^32\)"),
    (dict(noise=rs.Exp2(dim=10, sigma=1.0)), ValueError, "calibrated for dim=10 elements per input, but x has 90"),
]


@pytest.mark.parametrize("override,exc,match", BAD_CALLS)
def test_bad_arguments_raise_and_leave_out_untouched(override, exc, match):
    args = dict(x=_x(), noise=rs.Gaussian(sigma=1.0), num_samples=4, seed=0)
    args.update(override)
    buf = torch.full((12, 3, 5, 6), 7.0)
    kwargs = {k: v for k, v in args.items() if k not in ("x", "noise", "num_samples")}
    if isinstance(args["x"], torch.Tensor) and args["x"].shape == (3, 3, 5, 6) and "out_dtype" not in kwargs:
        kwargs["out"] = buf
    with pytest.raises(exc, match=match):
        rs.perturb(args["x"], args["noise"], args["num_samples"], **kwargs)
    assert (buf == 7.0).all()


def test_bad_out_buffers():
    x, g = _x(), rs.Gaussian(sigma=1.0)
    with pytest.raises(ValueError, match=r"out must have shape \[12, 3, 5, 6\], got \[11, 3, 5, 6\]"):
        rs.perturb(x, g, 4, seed=0, out=torch.empty(11, 3, 5, 6))
    with pytest.raises(ValueError, match="out must be channels_last"):
        rs.perturb(x, g, 4, seed=0, out=torch.empty(12, 3, 5, 6), channels_last=True)
    with pytest.raises(TypeError, match="out_dtype must be float32, float16 or bfloat16, got Double"):
        rs.perturb(x, g, 4, seed=0, out=torch.empty(12, 3, 5, 6, dtype=torch.float64))


def test_raw_op_checks_parameters():
    op = torch.ops.rsmooth_ext.perturb.default
    x = torch.rand(2, 3)
    with pytest.raises(ValueError, match="unknown noise family 'cauchy'; known: gaussian, laplace"):
        op(x, "cauchy", [1.0], 1, 0, 0, 0, None, None, False)
    with pytest.raises(ValueError, match="family 'lomax' takes 2 parameter"):
        op(x, "lomax", [1.0], 1, 0, 0, 0, None, None, False)
    with pytest.raises(ValueError, match="scale lambda params\\[0\\] of 'gaussian' must be > 0, got -1"):
        op(x, "gaussian", [-1.0], 1, 0, 0, 0, None, None, False)
    with pytest.raises(ValueError, match="masking keep probability params\\[0\\] must be in \\(0, 1\\]"):
        op(x, "masking", [1.5], 1, 0, 0, 0, None, None, False)
    with pytest.raises(ValueError, match="must be finite"):
        op(x, "exp1", [1.0, float("inf")], 1, 0, 0, 0, None, None, False)


@pytest.mark.parametrize("device", DEVICES)
def test_raw_op_rejects_input_ids_out_of_range(device):
    op = torch.ops.rsmooth_ext.perturb.default
    x = torch.rand(2, 3, device=device)
    for bad, text in (([0, -4], "min -4, max 0"), ([2**32, 1], "min 1, max 4294967296")):
        with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 2\^32\), got " + text):
            op(x, "gaussian", [1.0], 1, 0, 0, 0, torch.tensor(bad, device=device), None, False)
    with pytest.raises(TypeError, match="input_ids must be int64 \\(or uint32\\), got Int"):
        op(x, "gaussian", [1.0], 1, 0, 0, 0, torch.tensor([0, 1], dtype=torch.int32, device=device), None, False)
    # the largest id is valid, and uint32 ids (the sampling loop's unchecked form) give the same noise
    ids = torch.tensor([2**32 - 1, 7], device=device)
    checked = op(x, "gaussian", [1.0], 3, 5, 0, 0, ids, None, False)
    unchecked = op(x, "gaussian", [1.0], 3, 5, 0, 0, as_uint32_ids(ids), None, False)
    assert torch.equal(checked, unchecked)
    assert torch.equal(checked[3:], rs.perturb(x[1:], rs.Gaussian(lambd=1.0), 3, seed=5, input_ids=ids[1:]))
    # perturb takes uint32 ids too (no value check: no host read on CUDA), with the same noise
    assert torch.equal(rs.perturb(x, rs.Gaussian(lambd=1.0), 3, seed=5, input_ids=as_uint32_ids(ids)), checked)


ISA_SCRIPT = """
import sys, torch, rsmooth_ext as rs
from support import all_noises
x = torch.rand(3, 3, 5, 7, generator=torch.Generator().manual_seed(0))
dtypes = (torch.float32, torch.bfloat16)
outs = [rs.perturb(x, n, 9, seed=4, offset=2, out_dtype=dt) for n in all_noises(105) for dt in dtypes]
# Rows of several tiles (243 Philox blocks: 64 + 64 + 64 + 51), the last tile not a multiple of 8 blocks.
wide = torch.rand(2, 3, 17, 19, generator=torch.Generator().manual_seed(1))
outs += [rs.perturb(wide, n, 3, seed=2**40 + 7, offset=5) for n in all_noises(969)]
torch.save(outs, sys.argv[1])
"""


@pytest.mark.integration  # a subprocess per CPU instruction set
def test_cpu_instruction_set_variants_give_identical_results(tmp_path):
    """The AVX-512, AVX2 and baseline builds of the CPU loops compute bit-identical noise (no FMA
    contraction, the same polynomials); RSMOOTH_CPU_ISA caps the variant chosen at load time."""
    import os
    import subprocess
    import sys

    script = tmp_path / "isa.py"
    script.write_text(ISA_SCRIPT)
    results = {}
    for isa in ("native", "avx2", "baseline"):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), RSMOOTH_CPU_ISA=isa)
        out = tmp_path / f"{isa}.pt"
        subprocess.run([sys.executable, str(script), str(out)], env=env, check=True, cwd=os.path.dirname(__file__))
        results[isa] = torch.load(out)
    for isa in ("avx2", "baseline"):
        for a, b in zip(results["native"], results[isa]):
            assert torch.equal(a, b), isa
