"""The grid (sound) kernel: bit-identical to the PyTorch reference (CPU, and CUDA where present), every output
on the grid, the tie path through the low words, the clip's exact tail masses, the op's checks, and the
sampled law against the exact discretised probabilities (a chi-square, slow)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from support import CUDA_AVAILABLE, DEVICES, FALSE_ALARM, requires_cuda

import rsmooth_ext as rs
from rsmooth_ext import grid
from rsmooth_ext.reference import Purpose, noise_words, perturb_sound_reference

mpmath = pytest.importorskip("mpmath")

SPECS = [rs.SoundGaussian(sigma=0.3), rs.SoundLaplace(sigma=0.3), rs.SoundUniform(sigma=0.3),
         rs.SoundGaussian(sigma=0.12, clip=0.2, index=True), rs.SoundUniform(lambd=0.05, grid=100, clip=0.5)]


def on_grid_batch(shape, grid_size=255, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return grid.grid_values(torch.randint(0, grid_size + 1, shape, generator=g), grid_size, dtype)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("device", DEVICES)
def test_bit_identical_to_the_reference(spec, dtype, device):
    x = on_grid_batch((3, 3, 5, 7), spec.grid, dtype=dtype).to(device)
    ids = torch.tensor([5, 0, 2**32 - 1], device=device)
    out = rs.perturb(x, spec, 4, seed=2**40 + 3, offset=9, phase=2, input_ids=ids)
    expected = perturb_sound_reference(x, spec, 4, seed=2**40 + 3, offset=9, phase=2, input_ids=ids.cpu())
    assert out.dtype == dtype and out.shape == (12, 3, 5, 7)
    assert torch.equal(out.cpu(), expected)


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_and_out_write_the_same_values(device):
    spec = rs.SoundGaussian(sigma=0.25)
    x = on_grid_batch((2, 3, 4, 5)).to(device)
    plain = rs.perturb(x, spec, 3, seed=7)
    cl = rs.perturb(x, spec, 3, seed=7, channels_last=True)
    assert cl.is_contiguous(memory_format=torch.channels_last) and torch.equal(cl, plain)
    out = torch.empty_like(plain)
    assert torch.equal(rs.perturb(x, spec, 3, seed=7, out=out), plain)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_every_output_is_a_grid_value_within_the_clip(spec):
    x = on_grid_batch((4, 2000), spec.grid)
    out = rs.perturb(x, spec, 8, seed=11)
    index = out.round().long() if spec.index else grid.grid_indices(out, spec.grid)
    assert index.min() >= -spec.clip_steps and index.max() <= spec.grid + spec.clip_steps
    values = index.float() if spec.index else grid.grid_values(index, spec.grid, out.dtype)
    assert torch.equal(values, out)


def test_quantize_rounds_inputs_and_equivalent_inputs_give_identical_outputs():
    exact = on_grid_batch((2, 300))
    nudged = exact + (torch.rand(exact.shape, generator=torch.Generator().manual_seed(1)) - 0.5) * (0.99 / 255)
    spec = rs.SoundGaussian(sigma=0.25, quantize=True)
    assert torch.equal(rs.perturb(nudged.clamp(0, 1), spec, 5, seed=3), rs.perturb(exact, spec, 5, seed=3))
    with pytest.raises(ValueError, match=r"SoundGaussian: x must lie on the grid .* x.flatten\(\)\[0\]"):
        rs.perturb(nudged, rs.SoundGaussian(sigma=0.25), 1, seed=3)


class _CraftedSpec:
    """A duck-typed sound spec whose thresholds sit on the high words the stream actually draws, so that the
    kernel's tie path (the low words) is taken; read by perturb_sound_reference."""

    def __init__(self, values, grid_size, clip_steps):
        self.grid, self.clip_steps, self.index = grid_size, clip_steps, True
        self._thresholds = grid.Thresholds("crafted", 0.0, grid_size, clip_steps, tuple(values))

    def thresholds(self):
        return self._thresholds


def test_ties_with_a_thresholds_high_word_are_decided_by_the_low_words():
    seed, d = 99, 64
    hi = noise_words(seed, 0, 0, d // 4)
    lo = noise_words(seed, 0, 0, d // 4, purpose=Purpose.GRID_LOW)
    words = [(int(h) << 32) | int(lo_) for h, lo_ in zip(hi, lo)]
    reflected = sorted(w if w >> 63 else (2**64 - 1 - w) for w in words)
    # a threshold just above and one just below some elements' reflected words, with the same high word
    values = sorted({r + 1 for r in reflected[::3]} | {r for r in reflected[1::3]} | {2**63 + 5})
    spec = _CraftedSpec(values, 255, 255 + len(values))
    params = [255.0, float(spec.clip_steps), float(len(values)), float(grid.FLAG_INDEX)]
    table = torch.from_numpy(grid.table_words(spec.thresholds()))
    x = torch.full((1, d), 128 / 255)
    out = torch.ops.rsmooth_ext.perturb.default(x, "grid", params, 1, seed, 0, 0, None, None, False, None, table)
    expected = perturb_sound_reference(x, spec, 1, seed=seed)
    assert torch.equal(out, expected)
    assert len(set(out.flatten().tolist())) > 10


def test_the_clip_keeps_the_tail_mass_exactly():
    """x = 0, clip = 0: out = max(delta, 0), so P(out = 0) = P(delta <= 0) and P(out = G) = P(delta >= G)."""
    spec = rs.SoundGaussian(sigma=0.5, clip=0.0, index=True)
    probs = spec.thresholds().probabilities()  # |delta| = 0 .. M (= G: every |i| >= G)
    assert spec.thresholds().entries == 255
    n = 400_000
    out = rs.perturb(torch.zeros(1, n), spec, 1, seed=5).flatten()
    p_zero = float(probs[0] + sum(probs[1:]) / 2)
    p_top = float(probs[-1] / 2)
    for observed, p in ((int((out == 0).sum()), p_zero), (int((out == 255).sum()), p_top)):
        assert stats.binomtest(observed, n, p).pvalue > FALSE_ALARM
    assert out.min() == 0 and out.max() <= 255


def test_op_checks_the_table_and_the_grid():
    spec = rs.SoundGaussian(sigma=0.5)
    x = on_grid_batch((1, 8))
    table, params = spec.kernel_table("cpu"), spec.kernel_params
    op = torch.ops.rsmooth_ext.perturb.default
    with pytest.raises(ValueError, match="family 'grid' needs a threshold table"):
        op(x, "grid", params, 1, 0, 0, 0, None, None, False)
    with pytest.raises(ValueError, match="family 'gaussian' takes no table"):
        op(x, "gaussian", [0.5], 1, 0, 0, 0, None, None, False, None, table)
    with pytest.raises(TypeError, match="table must be int32"):
        op(x, "grid", params, 1, 0, 0, 0, None, None, False, None, table.long())
    with pytest.raises(ValueError, match="table must hold"):
        op(x, "grid", params, 1, 0, 0, 0, None, None, False, None, table[:-1])
    with pytest.raises(ValueError, match="grid size G params"):
        op(x, "grid", [0.5] + params[1:], 1, 0, 0, 0, None, None, False, None, table)
    unchecked = params[:3] + [0.0]  # the raw op checks x itself unless told it was checked
    op(x, "grid", unchecked, 1, 0, 0, 0, None, None, False, None, table)
    with pytest.raises(ValueError, match=r"grid noise needs x on the grid .* x.flatten\(\)\[3\]"):
        op(x + torch.tensor([0, 0, 0, 1e-3, 0, 0, 0, 0]), "grid", unchecked, 1, 0, 0, 0, None, None, False, None,
           table)


@requires_cuda
@pytest.mark.skipif(not CUDA_AVAILABLE, reason="requires a CUDA build and a GPU")
@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_cuda_is_bit_identical_to_cpu(spec):
    x = on_grid_batch((7, 3, 33, 31), spec.grid)
    for dtype in (torch.float32, torch.float16):
        cpu = rs.perturb(x.to(dtype), spec, 16, seed=12345, offset=3, phase=1)
        cuda = rs.perturb(x.to(dtype).cuda(), spec, 16, seed=12345, offset=3, phase=1)
        assert torch.equal(cuda.cpu(), cpu)


def _discretised_law(lambd: float, grid_size: int, half_width: int) -> list[float]:
    """P(delta = i / G), i = -half_width .. half_width, for the Gaussian, from mpmath (independent of the table)."""
    with mpmath.workdps(40):
        lam = mpmath.mpf(lambd)
        edge = lambda i: mpmath.ncdf(mpmath.mpf(2 * i + 1) / (2 * grid_size), sigma=lam)  # noqa: E731
        return [float(edge(i) - edge(i - 1)) for i in range(-half_width, half_width + 1)]


@pytest.mark.slow
def test_sampled_law_matches_the_discretised_gaussian():
    """4e8 draws at sigma = 0.02 (G sigma = 5.1 grid steps): the central bin (p = 0.078, n p = 3.1e7 counts, standard
    error 5.6e3) moves by 3.1e4 = 5.6 standard errors under a relative error of 1e-3, beyond the z-test's 3.9 at
    false-alarm rate 1e-4; and the global chi-square over the bins with >= 100 expected counts (the rest pooled)
    at the same false-alarm rate."""
    spec = rs.SoundGaussian(sigma=0.02, index=True)
    half = 40
    expected_p = np.array(_discretised_law(spec.lambd, spec.grid, half))
    counts = np.zeros(2 * half + 1, dtype=np.int64)
    total, chunk = 400_000_000, 20_000_000
    x = torch.full((1, chunk), 128 / 255)
    for s in range(total // chunk):
        delta = rs.perturb(x, spec, 1, seed=2024, offset=s).flatten().long() - 128
        counts += torch.bincount(delta.clamp(-half - 1, half + 1) + half + 1, minlength=2 * half + 3)[1:-1].numpy()
    tail = total - counts.sum()
    keep = expected_p * total >= 100
    observed = np.append(counts[keep], counts[~keep].sum() + tail)
    expected = np.append(expected_p[keep], 1 - expected_p[keep].sum()) * total
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert stats.chi2.sf(chi2, len(observed) - 1) > FALSE_ALARM, chi2
    z = (counts[half] - expected_p[half] * total) / math.sqrt(expected_p[half] * (1 - expected_p[half]) * total)
    assert abs(z) < stats.norm.isf(FALSE_ALARM / 2), z
    assert 1e-3 * expected_p[half] * total > 5 * math.sqrt(expected_p[half] * total)  # the sensitivity claimed
