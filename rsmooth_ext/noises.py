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

from ._checks import check_dimension, check_positive_real

_MATCHES = ("l2", "l1")


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
            self._lambd = check_positive_real("lambd", lambd, owner)
            return
        sigma = check_positive_real("sigma", sigma, owner)
        if match == "l2":
            a2 = self._a2()
            if not math.isfinite(a2):
                raise ValueError(f"{owner}: E||eps||_2^2 is infinite for these parameters{self._moment_condition(2)}; "
                                 "use match='l1' or lambd=")
            self._lambd = sigma / math.sqrt(a2)
        else:
            a1 = self._a1()
            if not math.isfinite(a1):
                raise ValueError(f"{owner}: E||eps||_1 is infinite for these parameters{self._moment_condition(1)}; "
                                 "use lambd=")
            self._lambd = sigma / a1

    # -- moments ---------------------------------------------------------------------------------------
    def _a1(self) -> float:
        """E||eps||_1 / d for lambda = 1."""
        raise NotImplementedError

    def _a2(self) -> float:
        """E||eps||_2^2 / d for lambda = 1."""
        raise NotImplementedError

    def _moment_condition(self, order: int) -> str:
        """What the parameters need for a finite moment of ``order`` (1 or 2), as ' (needs ...)', or ''."""
        return ""

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
        self.k = check_positive_real("k", k, "Lomax")
        super().__init__(lambd=lambd, sigma=sigma, match=match)

    def _a1(self):
        return 1.0 / (self.k - 1.0) if self.k > 1 else math.inf

    def _a2(self):
        return 2.0 / ((self.k - 1.0) * (self.k - 2.0)) if self.k > 2 else math.inf

    def _moment_condition(self, order):
        return f" (needs k > {order}, got k = {self.k:g})"

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
        keep = check_positive_real("keep", keep, "Masking")
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


def _exponent_j(value, dim: int, owner: str) -> float:
    """The radial exponent j of ||x||^-j: a real number with 0 <= j < dim (the density must be integrable)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: j must be a real number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and 0 <= value < dim):
        raise ValueError(f"{owner}: j must satisfy 0 <= j < dim = {dim} (||x||^-j must be integrable), got {value!r}")
    return value


def _log_beta_prime_moment(alpha: float, beta: float, m: float) -> float:
    """log E[T^m] for T ~ BetaPrime(alpha, beta) (density ~ t^(alpha-1) (1+t)^(-alpha-beta)); inf if m >= beta."""
    if m >= beta:
        return math.inf
    return float(gammaln(alpha + m) + gammaln(beta - m) - gammaln(alpha) - gammaln(beta))


class _Radial(Noise):
    """eps = r * u with a per-sample radius r and u uniform on a unit l_q sphere of R^dim. Subclasses give
    the radius law (``_log_radius_moment``) and the sphere (``_a1`` / ``_a2`` from E[r] and E[r^2])."""

    def __init__(self, *, dim, k=1.0, lambd=None, sigma=None, match: str = "l2"):
        owner = type(self).__name__
        self.dim = check_dimension(dim, owner)
        self.k = check_positive_real("k", k, owner)
        self._check_shape()
        super().__init__(lambd=lambd, sigma=sigma, match=match)

    def _check_shape(self) -> None:
        """Raise if the radius law's parameters are out of range (checked before the calibration)."""

    def _log_radius_moment(self, m: int) -> float:
        """log(E[r^m] / lambda^m); the gamma radius r^k ~ Gamma(dim/k, rate lambda^-k) by default."""
        return _log_gamma_ratio(self.dim, self.k, m)

    # E[r] / lambda and E[r^2] / lambda^2
    def _r1(self):
        return math.exp(self._log_radius_moment(1))

    def _r2(self):
        return math.exp(self._log_radius_moment(2))

    @property
    def params(self):
        return [self._lambd, self.k]

    def _extra_repr(self):
        return f"k={self.k:g}, dim={self.dim}, "


class _LinfSphere:
    """Moments of r * u, u on the unit l_inf sphere (one coordinate +-1, the others uniform on (-1, 1)):
    m1 = (d+1)/(2d) E[r], m2 = (1 + (d-1)/3) E[r^2] / d."""

    def _a1(self):
        d = self.dim
        return (d + 1) / (2.0 * d) * self._r1()

    def _a2(self):
        d = self.dim
        return (1.0 + (d - 1) / 3.0) * self._r2() / d


class _L2Sphere:
    """Moments of r * u, u uniform on the unit l2 sphere: m1 = E[r] Gamma(d/2)/(sqrt(pi) Gamma((d+1)/2)),
    m2 = E[r^2] / d."""

    def _a1(self):
        return self._r1() * math.exp(_log_abs_sphere_coordinate(self.dim))

    def _a2(self):
        return self._r2() / self.dim


class _GammaRadialJ(_Radial):
    """Density proportional to ||x||^-j exp(-(||x|| / lambda)^k) (rs4a's ExpInf / Exp2 with their j): the radius
    has density ~ r^(d-1-j) exp(-(r/lambda)^k), i.e. r^k ~ Gamma((d - j)/k, rate lambda^-k). j = 0 (default)
    gives exactly the j-free family (same params, same kernel stream)."""

    def __init__(self, *, dim, k=1.0, j=0, lambd=None, sigma=None, match: str = "l2"):
        self.j = _exponent_j(j, check_dimension(dim, type(self).__name__), type(self).__name__)
        super().__init__(dim=dim, k=k, lambd=lambd, sigma=sigma, match=match)

    def _log_radius_moment(self, m):
        return _log_gamma_ratio(self.dim - self.j if self.j else self.dim, self.k, m)

    @property
    def params(self):
        return [self._lambd, self.k] + ([self.j] if self.j else [])

    def _extra_repr(self):
        return f"k={self.k:g}, " + (f"j={self.j:g}, " if self.j else "") + f"dim={self.dim}, "


class ExpInf(_LinfSphere, _GammaRadialJ):
    """Density proportional to ||x||_inf^-j exp(-(||x||_inf / lambda)^k) (j = 0 by default): r^k ~ Gamma((d-j)/k,
    rate lambda^-k), then one uniformly chosen coordinate is +-r and the others are uniform on (-r, r).
    m1 = (d+1)/(2d) E[r], m2 = (1 + (d-1)/3) E[r^2] / d, E[r^m] = lambda^m Gamma((d-j+m)/k) / Gamma((d-j)/k)."""

    family = "expinf"
    natural_adversary = "linf"


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


class Exp2(_L2Sphere, _GammaRadialJ):
    """Density proportional to ||x||_2^-j exp(-(||x||_2 / lambda)^k) (j = 0 by default): r^k ~ Gamma((d-j)/k,
    rate lambda^-k), times a point uniform on the unit l2 sphere. m1 = E[r] Gamma(d/2)/(sqrt(pi) Gamma((d+1)/2)),
    m2 = E[r^2]/d. k = 2, j = 0 is the Gaussian with standard deviation lambda / sqrt(2)."""

    family = "exp2"
    natural_adversary = "l2"


class UniformBall(_L2Sphere, _Radial):
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

    @property
    def params(self):
        return [self._lambd]

    def _extra_repr(self):
        return f"dim={self.dim}, "


class PowInf(_LinfSphere, _Radial):
    """Density proportional to (1 + ||x||_inf / lambda)^-a (rs4a's PowInf), a > dim: the radius r = ||eps||_inf has
    density ~ r^(d-1) (1 + r/lambda)^-a, i.e. r / lambda ~ BetaPrime(d, a - d) (a ratio of independent gammas
    Gamma(d) / Gamma(a - d)); the direction is that of ExpInf. E[r^m] = lambda^m Gamma(d+m) Gamma(a-d-m) /
    (Gamma(d) Gamma(a-d)), finite for a > d + m: ``sigma=`` needs a > dim + 2 (match='l2') or a > dim + 1 ('l1')."""

    family = "powinf"
    natural_adversary = "linf"

    def __init__(self, *, a, dim, lambd=None, sigma=None, match: str = "l2"):
        self.a = check_positive_real("a", a, "PowInf")
        super().__init__(dim=dim, k=1.0, lambd=lambd, sigma=sigma, match=match)

    def _check_shape(self):
        if not self.a > self.dim:
            raise ValueError(f"PowInf: a must be > dim = {self.dim} (the density must be integrable), got {self.a!r}")

    def _log_radius_moment(self, m):
        return _log_beta_prime_moment(float(self.dim), self.a - self.dim, float(m))

    def _moment_condition(self, order):
        return f" (needs a > dim + {order} = {self.dim + order}, got a = {self.a:g})"

    @property
    def params(self):
        return [self._lambd, self.a]

    def _extra_repr(self):
        return f"a={self.a:g}, dim={self.dim}, "


class Pow2(_L2Sphere, _Radial):
    """Density proportional to (1 + (||x||_2 / lambda)^k)^-a (rs4a's Pow2), a k > dim: t = (r / lambda)^k has
    density ~ t^(d/k - 1) (1 + t)^-a, i.e. t ~ BetaPrime(d/k, a - d/k) (a ratio of independent gammas), times a
    point uniform on the unit l2 sphere. E[r^m] = lambda^m Gamma(d/k + m/k) Gamma(a - (d+m)/k) / (Gamma(d/k)
    Gamma(a - d/k)), finite for a k > d + m: ``sigma=`` needs a k > dim + 2 (match='l2') or > dim + 1 ('l1')."""

    family = "pow2"
    natural_adversary = "l2"

    def __init__(self, *, k, a, dim, lambd=None, sigma=None, match: str = "l2"):
        self.a = check_positive_real("a", a, "Pow2")
        super().__init__(dim=dim, k=k, lambd=lambd, sigma=sigma, match=match)

    def _check_shape(self):
        if not self.a * self.k > self.dim:
            raise ValueError(f"Pow2: a * k must be > dim = {self.dim} (the density must be integrable), got "
                             f"a={self.a!r}, k={self.k!r}")

    def _log_radius_moment(self, m):
        alpha = self.dim / self.k
        return _log_beta_prime_moment(alpha, self.a - alpha, m / self.k)

    def _moment_condition(self, order):
        return f" (needs a * k > dim + {order} = {self.dim + order}, got a * k = {self.a * self.k:g})"

    @property
    def params(self):
        return [self._lambd, self.k, self.a]

    def _extra_repr(self):
        return f"k={self.k:g}, a={self.a:g}, dim={self.dim}, "


EXPP_MIN_P = 0.1


class Expp(Noise):
    """I.i.d. generalized normal (rs4a's Expp): density proportional to exp(-|x_i / lambda|^p) per coordinate,
    |eps_i| / lambda = G^(1/p) with G ~ Gamma(1/p), random sign. p = 1 is Laplace(lambda), p = 2 is
    N(0, lambda^2 / 2). m1 = lambda Gamma(2/p) / Gamma(1/p), m2 = lambda^2 Gamma(3/p) / Gamma(1/p).
    p >= 0.1 (below, Gamma(1/p)^(1/p) reaches the float32 range)."""

    family = "expp"
    natural_adversary = "l1"

    def __init__(self, *, p, lambd=None, sigma=None, match: str = "l2"):
        self.p = check_positive_real("p", p, "Expp")
        if self.p < EXPP_MIN_P:
            raise ValueError(f"Expp: p must be >= {EXPP_MIN_P} (smaller p overflow float32 noise values), got {p!r}")
        super().__init__(lambd=lambd, sigma=sigma, match=match)

    def _a1(self):
        return math.exp(gammaln(2.0 / self.p) - gammaln(1.0 / self.p))

    def _a2(self):
        return math.exp(gammaln(3.0 / self.p) - gammaln(1.0 / self.p))

    @property
    def params(self):
        return [self._lambd, self.p]

    def _extra_repr(self):
        return f"p={self.p:g}, "


NOISES: dict[str, type[Noise]] = {
    cls.family: cls
    for cls in (Gaussian, Laplace, Uniform, Lomax, Masking, ExpInf, Exp1, Exp2, UniformBall, PowInf, Pow2, Expp)
}


def _certify(self, p_lower, adversary: str | None = None, dim: int | None = None):
    """Certified radius at top-class probability lower bound ``p_lower`` against ``adversary`` (default:
    the noise's natural one); see :func:`rsmooth_ext.radii.certify`."""
    from .certificates.routes import certify

    return certify(self, p_lower, adversary, dim)


Noise.certify = _certify
