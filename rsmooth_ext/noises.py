"""Noise specs: each family's parameters, its sigma <-> lambda calibration and what the kernels need.

Every spec is built from exactly one of ``lambd=`` (the family's scale parameter lambda) or
``sigma=`` (a target noise level) with ``match=`` naming the convention:

* ``match='l2'`` (default): sigma^2 = E||eps||_2^2 / d,
* ``match='l1'``:           sigma   = E||eps||_1 / d.

Both moments are exact at every dimension d (see the spec's errata): m1 = E||eps||_1 / d = a1 * lambda
and m2 = E||eps||_2^2 / d = a2 * lambda^2, with a1, a2 given by each family below. Every spec exposes
``lambd``, ``sigma`` (l2-matched, sqrt(m2)) and ``sigma_l1`` (m1).
"""

from __future__ import annotations

import math
import numbers
from typing import ClassVar

from scipy.special import gammaln

_MATCHES = ("l2", "l1")


def _positive_real(name: str, value, owner: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")
    return value


def _dimension(value, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: dim must be an integer >= 1 (the number of elements per input), got {value!r}")
    return int(value)


class Noise:
    """Base class of the noise specs. Subclasses set ``family`` (the kernel's name), ``natural_adversary``
    and implement ``_a1`` / ``_a2`` (the moments per unit lambda) and ``params``."""

    family: ClassVar[str]
    natural_adversary: ClassVar[str]
    dim: int | None = None

    def __init__(self, *, lambd=None, sigma=None, match: str = "l2"):
        owner = type(self).__name__
        if (lambd is None) == (sigma is None):
            raise ValueError(f"{owner}: give exactly one of lambd= or sigma=, got lambd={lambd!r}, sigma={sigma!r}")
        if match not in _MATCHES:
            raise ValueError(f"{owner}: match must be 'l2' or 'l1', got {match!r}")
        if lambd is not None:
            self._lambd = _positive_real("lambd", lambd, owner)
            return
        sigma = _positive_real("sigma", sigma, owner)
        if match == "l2":
            a2 = self._a2()
            if not math.isfinite(a2):
                raise ValueError(f"{owner}: E||eps||_2^2 is infinite for these parameters; use match='l1' or lambd=")
            self._lambd = sigma / math.sqrt(a2)
        else:
            a1 = self._a1()
            if not math.isfinite(a1):
                raise ValueError(f"{owner}: E||eps||_1 is infinite for these parameters; use lambd=")
            self._lambd = sigma / a1

    # -- moments ---------------------------------------------------------------------------------------
    def _a1(self) -> float:
        """E||eps||_1 / d for lambda = 1."""
        raise NotImplementedError

    def _a2(self) -> float:
        """E||eps||_2^2 / d for lambda = 1."""
        raise NotImplementedError

    @property
    def lambd(self) -> float:
        """The family's scale parameter lambda."""
        return self._lambd

    @property
    def sigma(self) -> float:
        """The l2-matched noise level sqrt(E||eps||_2^2 / d) (inf where the variance is infinite)."""
        return self._lambd * math.sqrt(self._a2())

    @property
    def sigma_l1(self) -> float:
        """The l1-matched noise level E||eps||_1 / d (inf where the mean is infinite)."""
        return self._lambd * self._a1()

    # -- kernel interface ------------------------------------------------------------------------------
    @property
    def params(self) -> list[float]:
        """The float parameters handed to the kernels, in the order csrc/rsmooth/noise.h reads them."""
        return [self._lambd]

    def check_input_dim(self, dim: int) -> None:
        """Raise if the spec cannot be applied to inputs of ``dim`` elements."""
        if self.dim is not None and dim != self.dim:
            raise ValueError(
                f"{self!r} was calibrated for dim={self.dim} elements per input, but x has {dim} elements per input"
            )

    def _extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._extra_repr()
        return (
            f"{type(self).__name__}({extra}lambd={self.lambd:.6g}, sigma={self.sigma:.6g}, "
            f"sigma_l1={self.sigma_l1:.6g})"
        )

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.params == other.params and self.dim == other.dim

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.params), self.dim))


class Gaussian(Noise):
    """eps_i ~ N(0, lambda^2) i.i.d.; density proportional to exp(-||x||_2^2 / (2 lambda^2)).
    m1 = lambda * sqrt(2/pi), m2 = lambda^2."""

    family = "gaussian"
    natural_adversary = "l2"

    def _a1(self):
        return math.sqrt(2.0 / math.pi)

    def _a2(self):
        return 1.0


class Laplace(Noise):
    """eps_i ~ Laplace(0, lambda) i.i.d.; density proportional to exp(-||x||_1 / lambda).
    m1 = lambda, m2 = 2 lambda^2."""

    family = "laplace"
    natural_adversary = "l1"

    def _a1(self):
        return 1.0

    def _a2(self):
        return 2.0


class Uniform(Noise):
    """eps_i ~ U(-lambda, lambda) i.i.d. (uniform in the cube [-lambda, lambda]^d).
    m1 = lambda / 2, m2 = lambda^2 / 3."""

    family = "uniform"
    natural_adversary = "l1"

    def _a1(self):
        return 0.5

    def _a2(self):
        return 1.0 / 3.0


class Lomax(Noise):
    """Symmetric Lomax: |eps_i| ~ Lomax(lambda, k) (survival (1 + r/lambda)^-k) with a random sign, i.i.d.
    m1 = lambda / (k - 1) (k > 1), m2 = 2 lambda^2 / ((k - 1)(k - 2)) (k > 2); infinite otherwise.
    ``sigma=`` with match='l2' needs k > 2, with match='l1' k > 1."""

    family = "lomax"
    natural_adversary = "l1"

    def __init__(self, *, k=3.0, lambd=None, sigma=None, match: str = "l2"):
        self.k = _positive_real("k", k, "Lomax")
        super().__init__(lambd=lambd, sigma=sigma, match=match)

    def _a1(self):
        return 1.0 / (self.k - 1.0) if self.k > 1 else math.inf

    def _a2(self):
        return 2.0 / ((self.k - 1.0) * (self.k - 2.0)) if self.k > 2 else math.inf

    @property
    def params(self):
        return [self._lambd, self.k]

    def _extra_repr(self):
        return f"k={self.k:g}, "


class Masking(Noise):
    """Masking (random ablation) for l0 certificates: each coordinate is kept with probability ``keep``,
    else set to 0 (eps_i = -x_i). The noise depends on x, so it has no lambda or sigma:
    E||eps||_2^2 / d = (1 - keep) * mean(x^2); ``lambd``, ``sigma`` and ``sigma_l1`` are None."""

    family = "masking"
    natural_adversary = "l0"

    def __init__(self, keep):
        keep = _positive_real("keep", keep, "Masking")
        if keep > 1:
            raise ValueError(f"Masking: keep must be in (0, 1], got {keep!r}")
        self.keep = keep

    lambd = None
    sigma = None
    sigma_l1 = None

    @property
    def params(self):
        return [self.keep]

    def __repr__(self):
        return f"Masking(keep={self.keep:.6g})"


def _log_gamma_ratio(d: int, k: float, j: int) -> float:
    """log(Gamma((d + j)/k) / Gamma(d/k))."""
    return float(gammaln((d + j) / k) - gammaln(d / k))


def _log_abs_sphere_coordinate(d: int) -> float:
    """log E|u_1| for u uniform on the unit l2 sphere of R^d: Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))."""
    return float(gammaln(d / 2.0) - 0.5 * math.log(math.pi) - gammaln((d + 1) / 2.0))


class _Radial(Noise):
    """eps = r * u with a per-sample radius r and u uniform on a unit l_q sphere of R^dim."""

    def __init__(self, *, dim, k=1.0, lambd=None, sigma=None, match: str = "l2"):
        owner = type(self).__name__
        self.dim = _dimension(dim, owner)
        self.k = _positive_real("k", k, owner)
        super().__init__(lambd=lambd, sigma=sigma, match=match)

    # E[r] / lambda and E[r^2] / lambda^2 for r^k ~ Gamma(dim/k, rate lambda^-k)
    def _r1(self):
        return math.exp(_log_gamma_ratio(self.dim, self.k, 1))

    def _r2(self):
        return math.exp(_log_gamma_ratio(self.dim, self.k, 2))

    @property
    def params(self):
        return [self._lambd, self.k]

    def _extra_repr(self):
        return f"k={self.k:g}, dim={self.dim}, "


class ExpInf(_Radial):
    """Density proportional to exp(-(||x||_inf / lambda)^k): r^k ~ Gamma(d/k, rate lambda^-k), then one
    uniformly chosen coordinate is +-r and the others are uniform on (-r, r).
    m1 = (d+1)/(2d) E[r], m2 = (1 + (d-1)/3) E[r^2] / d."""

    family = "expinf"
    natural_adversary = "linf"

    def _a1(self):
        d = self.dim
        return (d + 1) / (2.0 * d) * self._r1()

    def _a2(self):
        d = self.dim
        return (1.0 + (d - 1) / 3.0) * self._r2() / d


class Exp1(_Radial):
    """Density proportional to exp(-(||x||_1 / lambda)^k): r^k ~ Gamma(d/k, rate lambda^-k), times a point
    uniform on the unit l1 sphere (Dirichlet(1) with random signs). m1 = E[r]/d, m2 = 2 E[r^2]/(d(d+1))."""

    family = "exp1"
    natural_adversary = "l1"

    def _a1(self):
        return self._r1() / self.dim

    def _a2(self):
        d = self.dim
        return 2.0 * self._r2() / (d * (d + 1.0))


class Exp2(_Radial):
    """Density proportional to exp(-(||x||_2 / lambda)^k): r^k ~ Gamma(d/k, rate lambda^-k), times a point
    uniform on the unit l2 sphere. m1 = E[r] Gamma(d/2)/(sqrt(pi) Gamma((d+1)/2)), m2 = E[r^2]/d.
    k = 2 is the Gaussian with standard deviation lambda / sqrt(2)."""

    family = "exp2"
    natural_adversary = "l2"

    def _a1(self):
        return self._r1() * math.exp(_log_abs_sphere_coordinate(self.dim))

    def _a2(self):
        return self._r2() / self.dim


class UniformBall(_Radial):
    """Uniform in the l2 ball of radius lambda: r = lambda U^(1/d), times a point uniform on the unit l2
    sphere. m1 = lambda d/(d+1) Gamma(d/2)/(sqrt(pi) Gamma((d+1)/2)), m2 = lambda^2/(d+2)."""

    family = "uniformball"
    natural_adversary = "l2"

    def __init__(self, *, dim, lambd=None, sigma=None, match: str = "l2"):
        super().__init__(dim=dim, k=1.0, lambd=lambd, sigma=sigma, match=match)

    def _r1(self):
        return self.dim / (self.dim + 1.0)

    def _r2(self):
        return self.dim / (self.dim + 2.0)

    def _a1(self):
        return self._r1() * math.exp(_log_abs_sphere_coordinate(self.dim))

    def _a2(self):
        return self._r2() / self.dim

    @property
    def params(self):
        return [self._lambd]

    def _extra_repr(self):
        return f"dim={self.dim}, "


NOISES: dict[str, type[Noise]] = {
    cls.family: cls for cls in (Gaussian, Laplace, Uniform, Lomax, Masking, ExpInf, Exp1, Exp2, UniformBall)
}


def _certify(self, p_lower, adversary: str | None = None, dim: int | None = None):
    """Certified radius at top-class probability lower bound ``p_lower`` against ``adversary`` (default:
    the noise's natural one); see :func:`rsmooth_ext.radii.certify`."""
    from .radii import certify

    return certify(self, p_lower, adversary, dim)


Noise.certify = _certify
