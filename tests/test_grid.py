"""rsmooth_ext.grid and the sound specs: the exact thresholds (against an independent mpmath computation),
their cache, the grid arithmetic, the specs' checks and their certificates."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from support import DEVICES

import rsmooth_ext as rs
from rsmooth_ext import grid
from rsmooth_ext.noises import Gaussian, Laplace, SoundGaussian, SoundLaplace, SoundUniform, Uniform

mpmath = pytest.importorskip("mpmath")

TWO_M60 = Fraction(1, 2**60)


def _independent_masses(family: str, lambd: float, grid: int, entries: int) -> list[Fraction]:
    """P(|delta| = k / G), k = 0 .. entries (the last: every |i| >= entries), from the density's integral over
    each grid cell (mpmath quadrature / closed forms at 60 digits, not the kernel's CDF formula)."""
    with mpmath.workdps(60):
        lam = mpmath.mpf(lambd)
        if family == "gaussian":
            cell = lambda a, b: mpmath.ncdf(b, sigma=lam) - mpmath.ncdf(a, sigma=lam)  # noqa: E731
        elif family == "laplace":
            def cell(a, b):  # the density's kink at 0 is an endpoint of the quadrature
                points = [a, 0, b] if a < 0 < b else [a, b]
                return mpmath.quad(lambda t: mpmath.exp(-abs(t) / lam) / (2 * lam), points)
        else:
            cell = lambda a, b: max(0, min(b, lam) - max(a, -lam)) / (2 * lam)  # noqa: E731
        edges = [mpmath.mpf(2 * k + 1) / (2 * grid) for k in range(entries)]
        masses = [cell(-edges[0], edges[0])]
        masses += [2 * cell(edges[k - 1], edges[k]) for k in range(1, entries)]
        masses.append(1 - sum(masses))
        return [Fraction(mpmath.nstr(m, 55, min_fixed=-mpmath.inf, max_fixed=mpmath.inf)) for m in masses]


@pytest.mark.parametrize("cls, sigma", [(SoundGaussian, 0.25), (SoundGaussian, 0.5), (SoundLaplace, 0.25),
                                        (SoundUniform, 0.25), (SoundUniform, 0.5)])
def test_implied_probabilities_match_an_independent_mpmath_computation(cls, sigma):
    spec = cls(sigma=sigma)
    thresholds = spec.thresholds()
    implied = thresholds.probabilities()
    exact = _independent_masses(spec.family, spec.lambd, spec.grid, thresholds.entries)
    assert len(implied) == len(exact)
    worst = max(abs(a - b) for a, b in zip(implied, exact))
    assert worst <= TWO_M60, float(worst)
    assert sum(implied) == 1


def test_thresholds_are_floors_of_2_64_times_the_cdf():
    spec = SoundGaussian(sigma=0.5)
    values = spec.thresholds().values
    with mpmath.workdps(80):
        for i in (0, 1, 100, 509):
            cdf = mpmath.ncdf(mpmath.mpf(2 * i + 1) / 510, sigma=mpmath.mpf(0.5))
            assert values[i] == int(mpmath.floor(cdf * 2**64))


def test_table_size_is_grid_plus_clip_or_the_end_of_the_uniform_law():
    assert SoundGaussian(sigma=0.25).thresholds().entries == 510
    assert SoundGaussian(sigma=0.25, clip=0.2).thresholds().entries == 255 + 51
    # U(-lambda, lambda): F((2i+1)/(2G)) < 1 iff (2i+1)/(2G) < lambda
    spec = SoundUniform(lambd=0.1)
    expected = sum(1 for i in range(510) if Fraction(2 * i + 1, 510) < Fraction(0.1))
    assert spec.thresholds().entries == expected


def test_thresholds_are_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path))
    grid.get_thresholds.cache_clear()
    first = grid.get_thresholds("laplace", 0.3, 255, 255)
    files = list((tmp_path / "sound").iterdir())
    assert [f.name for f in files] == [grid.file_name("laplace", 0.3, 255, 255)]
    grid.get_thresholds.cache_clear()
    monkeypatch.setattr(grid, "compute_thresholds", lambda *a: pytest.fail("recomputed a cached table"))
    assert grid.get_thresholds("laplace", 0.3, 255, 255) == first
    grid.get_thresholds.cache_clear()


def test_a_cache_file_for_other_parameters_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path))
    grid.get_thresholds.cache_clear()
    first = grid.get_thresholds("gaussian", 0.3, 255, 255)
    path = tmp_path / "sound" / grid.file_name("gaussian", 0.3, 255, 255)
    grid._save(str(path), grid._header("gaussian", 0.4, 255, 255), first.values)  # a wrong header
    grid.get_thresholds.cache_clear()
    assert grid.get_thresholds("gaussian", 0.3, 255, 255) == first
    grid.get_thresholds.cache_clear()


def test_table_words_layout_and_guide():
    thresholds = SoundGaussian(sigma=0.25).thresholds()
    words = grid.table_words(thresholds).view(np.uint32)
    size = 1 << grid.GUIDE_BITS
    length = (words.size - size) // 2
    assert length == 511 and length > thresholds.entries
    guide, hi, lo = words[:size], words[size:size + length], words[size + length:]
    values = [(int(high) << 32) | int(low) for high, low in zip(hi, lo)]
    assert values[:thresholds.entries] == list(thresholds.values)
    assert all(v == 2**64 - 1 for v in values[thresholds.entries:])
    rng = np.random.default_rng(0)
    marked = 0
    for h in rng.integers(2**31, 2**32, 20000).tolist():
        entry = int(guide[(h >> grid.OFFSET_BITS) & (size - 1)])
        count = int(np.searchsorted(hi.astype(np.int64), h, side="left"))  # #{i : hi[i] < h}
        offset, single = h & ((1 << grid.OFFSET_BITS) - 1), entry & ((1 << grid.OFFSET_BITS) - 1)
        if entry >> 31 == 0 and offset != single:  # the kernel's branch-free count
            assert count == (entry >> grid.OFFSET_BITS) + (offset > single)
        marked += entry >> 31
    assert marked < 0.01 * 20000


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("g", [255, 100, 1023])
def test_grid_values_are_the_nearest_float32(device, g):
    """On every device (CUDA divides by a Python number through its reciprocal, one ulp off at 117 / 255):
    the grid values are correctly rounded, and the grid check accepts every one of them."""
    indices = torch.arange(-g, 2 * g + 1, device=device)
    on_grid = grid.grid_values(indices, g, torch.float32)
    grid.check_on_grid(on_grid[g:2 * g + 1], g, "Spec")
    values = on_grid.double().tolist()
    for i, v in zip(indices.tolist(), values):
        exact = Fraction(i, g)
        below, above = np.nextafter(np.float32(v), np.float32(-np.inf)), np.nextafter(np.float32(v), np.float32(np.inf))
        assert abs(Fraction(v) - exact) <= abs(Fraction(float(below)) - exact)
        assert abs(Fraction(v) - exact) <= abs(Fraction(float(above)) - exact)


def test_grid_check_names_the_first_offending_value():
    x = torch.arange(256, dtype=torch.float32).reshape(1, 256) / 255
    grid.check_on_grid(x, 255, "Spec")
    bad = x.clone()
    bad[0, 7] += 1e-4
    bad[0, 9] += 1e-4
    with pytest.raises(ValueError, match=r"x.flatten\(\)\[7\] = 0.0275"):
        grid.check_on_grid(bad, 255, "Spec")
    for value in (-1 / 255, 256 / 255, float("nan")):
        with pytest.raises(ValueError, match=r"flatten\(\)\[0\]"):
            grid.check_on_grid(torch.tensor([[value]]), 255, "Spec")
    assert torch.equal(grid.quantize(bad, 255), x)
    half = x.half()
    grid.check_on_grid(half, 255, "Spec")


def test_output_dtypes_that_cannot_hold_the_grid_are_refused():
    grid.check_output_dtype(torch.float16, 255, 255, False, "Spec")
    with pytest.raises(ValueError, match="bfloat16 cannot tell the grid values"):
        grid.check_output_dtype(torch.bfloat16, 255, 255, False, "Spec")
    with pytest.raises(ValueError, match="cannot hold the grid indices"):
        grid.check_output_dtype(torch.bfloat16, 255, 255, True, "Spec")


def test_specs_check_their_parameters():
    with pytest.raises(ValueError, match="grid must be an integer"):
        SoundGaussian(sigma=0.5, grid=0)
    with pytest.raises(ValueError, match="clip must be a finite real number >= 0"):
        SoundGaussian(sigma=0.5, clip=-1)
    with pytest.raises(ValueError, match=r"clip \* grid must be an integer"):
        SoundGaussian(sigma=0.5, clip=0.001)
    with pytest.raises(TypeError, match="index must be a bool"):
        SoundGaussian(sigma=0.5, index=1)
    with pytest.raises(TypeError, match="Gaussian, Laplace or Uniform"):
        rs.sound(rs.Lomax(sigma=0.5))
    with pytest.raises(TypeError, match="already a sound spec"):
        rs.sound(SoundGaussian(sigma=0.5))


@pytest.mark.parametrize("continuous, adversaries", [(Gaussian(sigma=0.5), ("l2", "l1", "linf")),
                                                     (Laplace(sigma=0.5), ("l1", "linf")),
                                                     (Uniform(sigma=0.5), ("l1", "linf"))])
def test_sound_specs_certify_as_their_continuous_family(continuous, adversaries):
    spec = rs.sound(continuous)
    assert spec.lambd == continuous.lambd and spec.mode == "sound" and continuous.mode == "float"
    assert spec.continuous == continuous
    p = np.array([0.6, 0.9, 0.999])
    lowered = np.nextafter(p - 2 * spec.law_error, 0.0)  # the table's rounding (law_error test below)
    for adversary in adversaries:
        assert np.array_equal(spec.certify(p, adversary, dim=3072), continuous.certify(lowered, adversary, dim=3072))


def test_sound_specs_compare_by_their_grid_too():
    assert SoundGaussian(sigma=0.5) == rs.sound(Gaussian(sigma=0.5))
    assert SoundGaussian(sigma=0.5) != SoundGaussian(sigma=0.5, grid=127)
    assert SoundGaussian(sigma=0.5) != Gaussian(sigma=0.5)
    assert len({SoundGaussian(sigma=0.5), SoundGaussian(sigma=0.5, index=True)}) == 2


@pytest.mark.parametrize("cls, sigma", [(SoundGaussian, 0.25), (SoundLaplace, 0.25), (SoundUniform, 0.5)])
def test_law_error_bounds_the_table_rounding_and_certificates_pay_it(cls, sigma):
    """The kernel's law is within law_error of the exact discretised law in total variation (here over the
    magnitudes |delta|, against the independent computation); certificates take p_lower - 2 law_error, so they
    are below the continuous family's at every p, and finite at p = 1 for every family."""
    spec = cls(sigma=sigma)
    implied = spec.thresholds().probabilities()
    exact = _independent_masses(spec.family, spec.lambd, spec.grid, spec.thresholds().entries)
    total_variation = sum(abs(a - b) for a, b in zip(implied, exact)) / 2
    assert 0 < spec.law_error <= 2.0**-40 and total_variation <= Fraction(spec.law_error)
    continuous = spec.continuous
    p = np.array([0.5 + 1e-16, 0.5 + 1e-15, 0.6, 0.9, 1 - 1e-15, 1.0])
    for adversary in ("l1", "linf") if cls is not SoundGaussian else ("l2",):
        ours = np.asarray(spec.certify(p, adversary, dim=3072))
        assert (ours <= np.asarray(continuous.certify(p, adversary, dim=3072))).all()
        lowered = np.nextafter(p - 2 * spec.law_error, 0.0)
        assert np.array_equal(ours, np.asarray(continuous.certify(lowered, adversary, dim=3072)))
        assert np.isfinite(ours[-1]) and ours[0] == 0
