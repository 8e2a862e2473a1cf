"""Noise specs: calibration (both matchings, exact at every d), validation and repr."""

import math

import numpy as np
import pytest
from scipy import integrate, special

import rsmooth_ext as rs


@pytest.mark.parametrize(
    "cls,m1,m2",
    [
        (rs.Gaussian, math.sqrt(2 / math.pi), 1.0),
        (rs.Laplace, 1.0, 2.0),
        (rs.Uniform, 0.5, 1 / 3),
    ],
)
def test_iid_closed_form_moments(cls, m1, m2):
    noise = cls(lambd=2.0)
    assert noise.sigma == pytest.approx(2.0 * math.sqrt(m2))
    assert noise.sigma_l1 == pytest.approx(2.0 * m1)
    assert cls(sigma=0.3).sigma == pytest.approx(0.3)
    assert cls(sigma=0.3, match="l1").sigma_l1 == pytest.approx(0.3)


def test_lomax_moments_and_ranges():
    noise = rs.Lomax(k=4.0, lambd=1.5)
    assert noise.sigma_l1 == pytest.approx(1.5 / 3)
    assert noise.sigma == pytest.approx(math.sqrt(2 * 1.5**2 / (3 * 2)))
    assert math.isinf(rs.Lomax(k=2.0, lambd=1.0).sigma)
    assert rs.Lomax(k=1.5, sigma=0.2, match="l1").lambd == pytest.approx(0.2 * 0.5)
    with pytest.raises(ValueError, match="infinite"):
        rs.Lomax(k=2.0, sigma=0.5)


def _exact_moments(cls, d, k):
    """E||eps||_1/d and E||eps||_2^2/d for lambda = 1 by direct integration over the radius law."""
    if cls is rs.UniformBall:
        er, er2 = d / (d + 1), d / (d + 2)
    else:
        er = math.exp(special.gammaln((d + 1) / k) - special.gammaln(d / k))
        er2 = math.exp(special.gammaln((d + 2) / k) - special.gammaln(d / k))
    if cls is rs.ExpInf:
        return er * (1 + (d - 1) / 2) / d, er2 * (1 + (d - 1) / 3) / d
    if cls is rs.Exp1:
        return er / d, er2 * 2 / (d * (d + 1))
    # l2 sphere: E|u_1| by integrating the marginal density of u_1 on the sphere
    dens = lambda t: (1 - t * t) ** ((d - 3) / 2) / special.beta(0.5, (d - 1) / 2)  # noqa: E731
    e_abs = 2 * integrate.quad(lambda t: t * dens(t), 0, 1)[0] if d > 1 else 1.0
    return er * e_abs, er2 / d


@pytest.mark.parametrize("cls", [rs.ExpInf, rs.Exp1, rs.Exp2, rs.UniformBall])
@pytest.mark.parametrize("d", [1, 2, 16, 784])
@pytest.mark.parametrize("k", [0.5, 1.0, 3.0])
def test_radial_calibration_is_exact(cls, d, k):
    kwargs = {} if cls is rs.UniformBall else {"k": k}
    m1, m2 = _exact_moments(cls, d, 1.0 if cls is rs.UniformBall else k)
    noise = cls(dim=d, lambd=1.0, **kwargs)
    assert noise.sigma_l1 == pytest.approx(m1, rel=1e-7)
    assert noise.sigma == pytest.approx(math.sqrt(m2), rel=1e-7)
    assert cls(dim=d, sigma=0.25, **kwargs).sigma == pytest.approx(0.25, rel=1e-12)
    assert cls(dim=d, sigma=0.25, match="l1", **kwargs).sigma_l1 == pytest.approx(0.25, rel=1e-12)


def test_errata_expinf_example():
    """The spec's approximate l2 calibration of ExpInf k=1 is 19.5% off at d = 16; ours is exact."""
    d = 16
    spec_lambda = math.sqrt(3) / math.exp(special.gammaln(d + 1) - special.gammaln(d)) * 1.0
    exact = rs.ExpInf(k=1, dim=d, sigma=1.0)
    assert exact.lambd != pytest.approx(spec_lambda, rel=1e-3)
    assert rs.ExpInf(k=1, dim=d, lambd=spec_lambda).sigma ** 2 == pytest.approx(1.195, abs=2e-3)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: rs.Gaussian(), "exactly one of lambd= or sigma="),
        (lambda: rs.Gaussian(lambd=1, sigma=1), "exactly one of lambd= or sigma="),
        (lambda: rs.Gaussian(sigma=0), "sigma must be a finite number > 0, got 0"),
        (lambda: rs.Laplace(lambd=-1), "lambd must be a finite number > 0, got -1"),
        (lambda: rs.Uniform(sigma=float("nan")), "sigma must be a finite number > 0"),
        (lambda: rs.Gaussian(sigma=1, match="l3"), "match must be 'l2' or 'l1', got 'l3'"),
        (lambda: rs.Lomax(k=0, lambd=1), "k must be a finite number > 0, got 0"),
        (lambda: rs.Masking(keep=0), "keep must be a finite number > 0, got 0"),
        (lambda: rs.Masking(keep=1.5), r"keep must be in \(0, 1\], got 1.5"),
        (lambda: rs.ExpInf(dim=0, sigma=1), "dim must be an integer >= 1"),
        (lambda: rs.Exp1(dim=10, k=-1, sigma=1), "k must be a finite number > 0, got -1"),
        (lambda: rs.Exp2(dim=2.5, sigma=1), "dim must be an integer >= 1"),
    ],
)
def test_bad_parameters_raise_clear_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_type_errors():
    with pytest.raises(TypeError, match="lambd must be a real number, got '1'"):
        rs.Gaussian(lambd="1")
    with pytest.raises(TypeError, match="sigma must be a real number, got True"):
        rs.Gaussian(sigma=True)


def test_repr_and_equality():
    assert repr(rs.Gaussian(sigma=0.25)) == "Gaussian(lambd=0.25, sigma=0.25, sigma_l1=0.199471)"
    assert repr(rs.Masking(keep=0.2)) == "Masking(keep=0.2)"
    assert "k=2, dim=784" in repr(rs.Exp2(k=2, dim=784, sigma=0.5))
    assert rs.Gaussian(sigma=0.5) == rs.Gaussian(lambd=0.5)
    assert rs.Gaussian(sigma=0.5) != rs.Laplace(lambd=0.5)
    assert len({rs.Gaussian(sigma=0.5), rs.Gaussian(lambd=0.5)}) == 1


def test_registry_and_params():
    assert set(rs.NOISES) == {"gaussian", "laplace", "uniform", "lomax", "masking", "expinf", "exp1", "exp2",
                              "uniformball", "powinf", "pow2", "expp"}
    assert rs.Lomax(k=3, lambd=2).params == [2.0, 3.0]
    assert rs.UniformBall(dim=5, lambd=2).params == [2.0]
    assert np.isclose(rs.Exp2(k=2, dim=10, lambd=1).sigma, math.sqrt(0.5))  # k=2 is Gaussian(lambda/sqrt 2)


# ---- the declarations: one list of parameters per family ----------------------------------------------


def test_kernel_params_follow_the_declarations():
    """The names behind ``params``, in the order csrc/rsmooth/noise.h reads them (lambda first for scaled
    families); j is left out at its default 0, so j = 0 draws exactly the j-free stream."""
    expected = {
        "gaussian": ("lambd",), "laplace": ("lambd",), "uniform": ("lambd",), "lomax": ("lambd", "k"),
        "masking": ("keep",), "expinf": ("lambd", "k", "j"), "exp1": ("lambd", "k"), "exp2": ("lambd", "k", "j"),
        "uniformball": ("lambd",), "powinf": ("lambd", "a"), "pow2": ("lambd", "k", "a"), "expp": ("lambd", "p"),
    }
    assert {family: cls.kernel_param_names() for family, cls in rs.NOISES.items()} == expected
    assert rs.ExpInf(k=2, j=0, dim=10, lambd=1.5).params == [1.5, 2.0]
    assert rs.ExpInf(k=2, j=3, dim=10, lambd=1.5).params == [1.5, 2.0, 3.0]
    assert rs.ExpInf(k=2, j=0, dim=10, lambd=1.5) == rs.ExpInf(k=2, dim=10, lambd=1.5)
    assert repr(rs.Exp2(k=2, j=0, dim=10, lambd=1)).startswith("Exp2(k=2, dim=10, lambd=1, ")


@pytest.mark.parametrize("cls", list(rs.NOISES.values()), ids=list(rs.NOISES))
def test_every_family_declares_its_parameters_and_examples(cls):
    names = [p.name for p in cls.parameters]
    assert len(set(names)) == len(names)
    assert all(p.meaning for p in cls.parameters)
    for name, noise in cls.examples(24, 0.3).items():
        assert type(noise) is cls and name.split("_")[0] == cls.family
        for p in noise.parameters:  # the declared values round-trip through the constructor
            assert hasattr(noise, p.name)
        kwargs = {p.name: getattr(noise, p.name) for p in noise.parameters}
        assert type(noise)(**kwargs, **({"lambd": noise.lambd} if cls.scaled else {})) == noise
        if cls.scaled:
            assert noise.sigma == pytest.approx(0.3, rel=1e-12)
    assert cls.example(24, 0.3) == next(iter(cls.examples(24, 0.3).values()))


def test_constructor_signature_comes_from_the_declarations():
    import inspect

    assert str(inspect.signature(rs.Lomax)) == "(*, k=3.0, lambd=None, sigma=None, match='l2')"
    assert str(inspect.signature(rs.Pow2)) == "(*, k, a, dim, lambd=None, sigma=None, match='l2')"
    assert str(inspect.signature(rs.Masking)) == "(keep)"
    assert rs.Masking(0.5) == rs.Masking(keep=0.5)
    with pytest.raises(TypeError, match="Gaussian: got an unexpected keyword argument 'sigm'"):
        rs.Gaussian(sigm=0.5)
    with pytest.raises(TypeError, match="PowInf: missing a required argument: 'a'"):
        rs.PowInf(dim=3, lambd=1.0)
    with pytest.raises(TypeError, match="Lomax: too many positional arguments"):
        rs.Lomax(3.0, lambd=1.0)
