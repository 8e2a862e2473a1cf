"""Noise specs: each family's parameters, its sigma <-> lambda calibration and what the kernels need.

Every spec is built from exactly one of ``lambd=`` (the family's scale parameter lambda) or
``sigma=`` (a target noise level) with ``match=`` naming the convention:

* ``match='l2'`` (default): sigma^2 = E||eps||_2^2 / d,
* ``match='l1'``:           sigma   = E||eps||_1 / d.

Both moments are exact at every dimension d (see the spec's errata): m1 = E||eps||_1 / d = a1 * lambda
and m2 = E||eps||_2^2 / d = a2 * lambda^2, with a1, a2 given by each family below. Every spec exposes
``lambd``, ``sigma`` (l2-matched, sqrt(m2)) and ``sigma_l1`` (m1).

A family is declared once: its spec class lists its ``parameters`` (one :class:`Param` each: name, meaning,
default, check, kernel role). The constructor (signature, checks, error messages), ``params`` (the kernels'
float list), ``repr``, equality, the command line's options and the benchmarks' ``examples`` all derive
from that list; only the calibration (``_a1`` / ``_a2``) and joint constraints (``_check_shape``) are
written per family.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from scipy.special import gammaln

from ._checks import check_dimension, check_positive_real

_MATCHES = ("l2", "l1")
# the calibration's keywords, taken by every scaled family after its own parameters
_SCALE_KEYWORDS = ("lambd", "sigma", "match")

# ---- parameter declarations ---------------------------------------------------------------------------

# A check takes (name, value, owner, spec) and returns the value to store, or raises naming the owner (the
# class name), the argument, the value and what is allowed. ``spec`` already holds the input-size parameters.
Check = Callable[[str, Any, str, "Noise"], Any]


def positive(name: str, value, owner: str, spec: Noise) -> float:
    """A finite real number > 0, stored as a float."""
    return check_positive_real(name, value, owner)


def positive_at_most(upper: float) -> Check:
    """A check: a finite real number in (0, upper], stored as a float."""

    def check(name: str, value, owner: str, spec: Noise) -> float:
        value = check_positive_real(name, value, owner)
        if value > upper:
            raise ValueError(f"{owner}: {name} must be in (0, {upper:g}], got {value!r}")
        return value

    return check


def positive_at_least(lower: float, why: str) -> Check:
    """A check: a finite real number >= lower (> 0); ``why`` says what goes wrong below."""

    def check(name: str, value, owner: str, spec: Noise) -> float:
        checked = check_positive_real(name, value, owner)
        if checked < lower:
            raise ValueError(f"{owner}: {name} must be >= {lower} ({why}), got {value!r}")
        return checked

    return check


def dimension(name: str, value, owner: str, spec: Noise) -> int:
    """The number of elements per input: an int >= 1."""
    return check_dimension(value, owner)


def radial_exponent(name: str, value, owner: str, spec: Noise) -> float:
    """The exponent j of ||x||^-j: a real number with 0 <= j < dim (the density must be integrable)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and 0 <= value < spec.dim):
        raise ValueError(f"{owner}: {name} must satisfy 0 <= {name} < dim = {spec.dim} (||x||^-{name} must be "
                         f"integrable), got {value!r}")
    return value


@dataclass(frozen=True)
class Param:
    """One parameter of a noise family, declared once in its spec's ``parameters``.

    * ``default``: None for a required parameter;
    * ``check``: validates and converts the value (see :data:`Check`);
    * ``kernel``: handed to the kernels; ``params`` is lambda (scaled families) then the kernel parameters in
      declaration order, the order csrc/rsmooth/noise.h reads them;
    * ``omit_at_default``: left out of ``params`` and ``repr`` at its default (the kernel rule then reads
      the default: e.g. j = 0 gives exactly the j-free stream);
    * ``from_input``: the size of one input (``dim``), given by the data rather than chosen (no CLI option);
      checked before the other parameters, whose checks may read it;
    * ``example``: the value examples use for a required parameter (a number, or a function of dim);
    * ``positional``: may also be passed by position; ``fmt``: its format in ``repr``."""

    name: str
    meaning: str
    default: float | None = None
    check: Check = positive
    kernel: bool = True
    omit_at_default: bool = False
    from_input: bool = False
    example: float | Callable[[int], float] | None = None
    positional: bool = False
    fmt: str = "g"

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is None


DIM = Param("dim", "number of elements per input", check=dimension, kernel=False, from_input=True, fmt="d")


# ---- the base class -------------------------------------------------------------------------------------


class Noise:
    """Base class of the noise specs. Subclasses set ``family`` (the kernel's name), ``natural_adversary``,
    ``parameters`` (their :class:`Param` declarations) and implement ``_a1`` / ``_a2`` (the moments per unit
    lambda). ``scaled = False`` marks a family without lambda / sigma (masking); ``radial = True`` one whose
    kernel draws a per-sample radius (a reduction over each sample); ``example_variants`` names the examples
    benchmarks and checks draw ({suffix: parameter overrides}, "" = the family's own name)."""

    family: ClassVar[str]
    natural_adversary: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]] = ()
    scaled: ClassVar[bool] = True
    radial: ClassVar[bool] = False
    example_variants: ClassVar[dict[str, dict[str, Any]]] = {"": {}}
    dim: int | None = None
    _signature: ClassVar[inspect.Signature]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = [p.name for p in cls.parameters]
        reserved = set(_SCALE_KEYWORDS) if cls.scaled else set()
        if len(set(names)) != len(names) or reserved & set(names):
            raise TypeError(f"{cls.__name__}: parameter names must be distinct and not {sorted(reserved)}, "
                            f"got {names}")
        for p in cls.parameters:
            if p.required and not p.from_input and p.example is None and not all(
                    p.name in overrides for overrides in cls.example_variants.values()):
                raise TypeError(f"{cls.__name__}: required parameter {p.name} needs an example value")
        cls._signature = _constructor_signature(cls)
        cls.__signature__ = cls._signature

    def __init__(self, *args, **kwargs):
        owner = type(self).__name__
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{owner}: {e}") from None
        bound.apply_defaults()
        values = bound.arguments
        # input sizes first: the other checks may read them (j < dim)
        for p in sorted(self.parameters, key=lambda p: not p.from_input):
            setattr(self, p.name, p.check(p.name, values[p.name], owner, self))
        self._check_shape()
        if self.scaled:
            self._lambd = self._calibrate(owner, values["lambd"], values["sigma"], values["match"])

    def _calibrate(self, owner: str, lambd, sigma, match) -> float:
        """lambda from exactly one of ``lambd`` or ``sigma`` (under ``match``)."""
        if (lambd is None) == (sigma is None):
            raise ValueError(f"{owner}: give exactly one of lambd= or sigma=, got lambd={lambd!r}, sigma={sigma!r}")
        if match not in _MATCHES:
            raise ValueError(f"{owner}: match must be 'l2' or 'l1', got {match!r}")
        if lambd is not None:
            return check_positive_real("lambd", lambd, owner)
        sigma = check_positive_real("sigma", sigma, owner)
        if match == "l2":
            a2 = self._a2()
            if not math.isfinite(a2):
                raise ValueError(f"{owner}: E||eps||_2^2 is infinite for these parameters{self._moment_condition(2)}; "
                                 "use match='l1' or lambd=")
            return sigma / math.sqrt(a2)
        a1 = self._a1()
        if not math.isfinite(a1):
            raise ValueError(f"{owner}: E||eps||_1 is infinite for these parameters{self._moment_condition(1)}; "
                             "use lambd=")
        return sigma / a1

    def _check_shape(self) -> None:
        """Raise if the parameters are jointly out of range (checked after each one, before the calibration)."""

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

    # -- derived from the declarations -----------------------------------------------------------------
    def _shown(self, p: Param) -> bool:
        return not (p.omit_at_default and getattr(self, p.name) == p.default)

    @property
    def params(self) -> list[float]:
        """The float parameters handed to the kernels, in the order csrc/rsmooth/noise.h reads them:
        lambda (scaled families), then the kernel parameters in declaration order."""
        scale = [self._lambd] if self.scaled else []
        return scale + [getattr(self, p.name) for p in self.parameters if p.kernel and self._shown(p)]

    @classmethod
    def kernel_param_names(cls) -> tuple[str, ...]:
        """The names of ``params``' entries, in order (the trailing ones declared ``omit_at_default`` are
        left out at their default)."""
        scale = ("lambd",) if cls.scaled else ()
        return scale + tuple(p.name for p in cls.parameters if p.kernel)

    @classmethod
    def examples(cls, dim: int, sigma: float = 0.25) -> dict[str, Noise]:
        """Named example specs for inputs of ``dim`` elements (calibrated to ``sigma``, l2-matched, where the
        family has a scale): one per ``example_variants`` entry, named ``family`` or ``family_suffix``."""
        examples = {}
        for suffix, overrides in cls.example_variants.items():
            values = {}
            for p in cls.parameters:
                value = dim if p.from_input else overrides.get(p.name, p.example if p.required else None)
                if value is not None:
                    values[p.name] = value(dim) if callable(value) else value
            if cls.scaled:
                values["sigma"] = sigma
            examples[f"{cls.family}_{suffix}" if suffix else cls.family] = cls(**values)
        return examples

    @classmethod
    def example(cls, dim: int, sigma: float = 0.25) -> Noise:
        """The family's first example (see :meth:`examples`)."""
        return next(iter(cls.examples(dim, sigma).values()))

    # -- what the kernels are called with (a sound spec reuses its continuous family's certificate under
    # ``family`` / ``params`` and launches the grid kernel) ---------------------------------------------
    @property
    def kernel_family(self) -> str:
        """The op's family string (csrc/rsmooth/noise.h)."""
        return self.family

    @property
    def kernel_params(self) -> list[float]:
        """The op's float parameters."""
        return self.params

    def kernel_table(self, device) -> Any:
        """The op's table tensor on ``device`` (None: the family reads none)."""
        return None

    def prepare_input(self, x, out_dtype=None):
        """x as the kernels take it (a sound spec checks or quantises it to its grid); raises on bad input."""
        return x

    @property
    def mode(self) -> str:
        """'float' (the continuous law in float arithmetic) or 'sound' (the law discretised to the input grid)."""
        return "float"

    @property
    def law_error(self) -> float:
        """A bound on the total variation between the law the kernel samples and the law the certificate is
        proved for (0: the certificates' own margins cover the float path; a sound spec's table rounding)."""
        return 0.0

    def check_input_dim(self, dim: int) -> None:
        """Raise if the spec cannot be applied to inputs of ``dim`` elements."""
        if self.dim is not None and dim != self.dim:
            raise ValueError(
                f"{self!r} was calibrated for dim={self.dim} elements per input, but x has {dim} elements per input"
            )

    def __repr__(self) -> str:
        parts = [f"{p.name}={getattr(self, p.name):{p.fmt}}" for p in self.parameters if self._shown(p)]
        if self.scaled:
            parts += [f"lambd={self.lambd:.6g}", f"sigma={self.sigma:.6g}", f"sigma_l1={self.sigma_l1:.6g}"]
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.params == other.params and self.dim == other.dim

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.params), self.dim))


def _constructor_signature(cls: type[Noise]) -> inspect.Signature:
    """The constructor's signature: the declared parameters (positional ones first), then lambd / sigma /
    match for scaled families, all keyword-only unless declared positional."""
    empty = inspect.Parameter.empty

    def parameter(p: Param, kind) -> inspect.Parameter:
        return inspect.Parameter(p.name, kind, default=empty if p.required else p.default)

    positional = [parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in cls.parameters if p.positional]
    keyword = [parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in cls.parameters if not p.positional]
    if cls.scaled:
        keyword += [inspect.Parameter("lambd", inspect.Parameter.KEYWORD_ONLY, default=None),
                    inspect.Parameter("sigma", inspect.Parameter.KEYWORD_ONLY, default=None),
                    inspect.Parameter("match", inspect.Parameter.KEYWORD_ONLY, default="l2")]
    return inspect.Signature(positional + keyword)


Noise._signature = _constructor_signature(Noise)


# ---- i.i.d. families ----------------------------------------------------------------------------------


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
    parameters = (Param("k", "tail index k of the survival (1 + r/lambda)^-k", default=3.0),)

    def _a1(self):
        return 1.0 / (self.k - 1.0) if self.k > 1 else math.inf

    def _a2(self):
        return 2.0 / ((self.k - 1.0) * (self.k - 2.0)) if self.k > 2 else math.inf

    def _moment_condition(self, order):
        return f" (needs k > {order}, got k = {self.k:g})"


class Masking(Noise):
    """Masking (random ablation) for l0 certificates: each coordinate is kept with probability ``keep``,
    else set to 0 (eps_i = -x_i). The noise depends on x, so it has no lambda or sigma:
    E||eps||_2^2 / d = (1 - keep) * mean(x^2); ``lambd``, ``sigma`` and ``sigma_l1`` are None."""

    family = "masking"
    natural_adversary = "l0"
    scaled = False
    parameters = (Param("keep", "probability of keeping a coordinate", check=positive_at_most(1.0), example=0.5,
                        positional=True, fmt=".6g"),)

    lambd = None
    sigma = None
    sigma_l1 = None


EXPP_MIN_P = 0.1


class Expp(Noise):
    """I.i.d. generalized normal (rs4a's Expp): density proportional to exp(-|x_i / lambda|^p) per coordinate,
    |eps_i| / lambda = G^(1/p) with G ~ Gamma(1/p), random sign. p = 1 is Laplace(lambda), p = 2 is
    N(0, lambda^2 / 2). m1 = lambda Gamma(2/p) / Gamma(1/p), m2 = lambda^2 Gamma(3/p) / Gamma(1/p).
    p >= 0.1 (below, Gamma(1/p)^(1/p) reaches the float32 range)."""

    family = "expp"
    natural_adversary = "l1"
    parameters = (Param("p", "exponent p of exp(-|x/lambda|^p)",
                        check=positive_at_least(EXPP_MIN_P, "smaller p overflow float32 noise values")),)
    example_variants = {"p0.5": {"p": 0.5}, "p4": {"p": 4.0}}

    def _a1(self):
        return math.exp(gammaln(2.0 / self.p) - gammaln(1.0 / self.p))

    def _a2(self):
        return math.exp(gammaln(3.0 / self.p) - gammaln(1.0 / self.p))


# ---- radial families: a per-sample radius times a point on a unit sphere -----------------------------


def _log_gamma_ratio(d: int, k: float, j: int) -> float:
    """log(Gamma((d + j)/k) / Gamma(d/k))."""
    return float(gammaln((d + j) / k) - gammaln(d / k))


def _log_abs_sphere_coordinate(d: int) -> float:
    """log E|u_1| for u uniform on the unit l2 sphere of R^d: Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))."""
    return float(gammaln(d / 2.0) - 0.5 * math.log(math.pi) - gammaln((d + 1) / 2.0))


def _log_beta_prime_moment(alpha: float, beta: float, m: float) -> float:
    """log E[T^m] for T ~ BetaPrime(alpha, beta) (density ~ t^(alpha-1) (1+t)^(-alpha-beta)); inf if m >= beta."""
    if m >= beta:
        return math.inf
    return float(gammaln(alpha + m) + gammaln(beta - m) - gammaln(alpha) - gammaln(beta))


RADIUS_SHAPE_K = Param("k", "exponent k of the radius law exp(-(r/lambda)^k)", default=1.0)
RADIAL_EXPONENT_J = Param("j", "exponent j of ||x||^-j", default=0, check=radial_exponent, omit_at_default=True)


class _Radial(Noise):
    """eps = r * u with a per-sample radius r and u uniform on a unit l_q sphere of R^dim. Subclasses give
    the radius law (``_log_radius_moment``) and the sphere (``_a1`` / ``_a2`` from E[r] and E[r^2])."""

    radial = True
    parameters = (RADIUS_SHAPE_K, DIM)

    def _log_radius_moment(self, m: int) -> float:
        """log(E[r^m] / lambda^m); the gamma radius r^k ~ Gamma(dim/k, rate lambda^-k) by default."""
        return _log_gamma_ratio(self.dim, self.k, m)

    # E[r] / lambda and E[r^2] / lambda^2
    def _r1(self):
        return math.exp(self._log_radius_moment(1))

    def _r2(self):
        return math.exp(self._log_radius_moment(2))


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

    parameters = (RADIUS_SHAPE_K, RADIAL_EXPONENT_J, DIM)
    example_variants = {"": {}, "j10": {"k": 2.0, "j": 10}}

    def _log_radius_moment(self, m):
        return _log_gamma_ratio(self.dim - self.j if self.j else self.dim, self.k, m)


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
    parameters = (DIM,)
    k = 1.0  # no shape parameter; kept as an attribute for code that reads every radial spec's k

    def _r1(self):
        return self.dim / (self.dim + 1.0)

    def _r2(self):
        return self.dim / (self.dim + 2.0)


class PowInf(_LinfSphere, _Radial):
    """Density proportional to (1 + ||x||_inf / lambda)^-a (rs4a's PowInf), a > dim: the radius r = ||eps||_inf has
    density ~ r^(d-1) (1 + r/lambda)^-a, i.e. r / lambda ~ BetaPrime(d, a - d) (a ratio of independent gammas
    Gamma(d) / Gamma(a - d)); the direction is that of ExpInf. E[r^m] = lambda^m Gamma(d+m) Gamma(a-d-m) /
    (Gamma(d) Gamma(a-d)), finite for a > d + m: ``sigma=`` needs a > dim + 2 (match='l2') or a > dim + 1 ('l1')."""

    family = "powinf"
    natural_adversary = "linf"
    parameters = (Param("a", "tail exponent a of (1 + ||x||_inf/lambda)^-a, a > dim", example=lambda dim: dim + 10),
                  DIM)
    k = 1.0  # no shape parameter; kept as an attribute for code that reads every radial spec's k

    def _check_shape(self):
        if not self.a > self.dim:
            raise ValueError(f"PowInf: a must be > dim = {self.dim} (the density must be integrable), got {self.a!r}")

    def _log_radius_moment(self, m):
        return _log_beta_prime_moment(float(self.dim), self.a - self.dim, float(m))

    def _moment_condition(self, order):
        return f" (needs a > dim + {order} = {self.dim + order}, got a = {self.a:g})"


class Pow2(_L2Sphere, _Radial):
    """Density proportional to (1 + (||x||_2 / lambda)^k)^-a (rs4a's Pow2), a k > dim: t = (r / lambda)^k has
    density ~ t^(d/k - 1) (1 + t)^-a, i.e. t ~ BetaPrime(d/k, a - d/k) (a ratio of independent gammas), times a
    point uniform on the unit l2 sphere. E[r^m] = lambda^m Gamma(d/k + m/k) Gamma(a - (d+m)/k) / (Gamma(d/k)
    Gamma(a - d/k)), finite for a k > d + m: ``sigma=`` needs a k > dim + 2 (match='l2') or > dim + 1 ('l1')."""

    family = "pow2"
    natural_adversary = "l2"
    parameters = (Param("k", "exponent k of (1 + (||x||_2/lambda)^k)^-a", example=2.0),
                  Param("a", "tail exponent a of (1 + (||x||_2/lambda)^k)^-a, a k > dim",
                        example=lambda dim: (dim + 10) / 2),
                  DIM)

    def _check_shape(self):
        if not self.a * self.k > self.dim:
            raise ValueError(f"Pow2: a * k must be > dim = {self.dim} (the density must be integrable), got "
                             f"a={self.a!r}, k={self.k!r}")

    def _log_radius_moment(self, m):
        alpha = self.dim / self.k
        return _log_beta_prime_moment(alpha, self.a - alpha, m / self.k)

    def _moment_condition(self, order):
        return f" (needs a * k > dim + {order} = {self.dim + order}, got a * k = {self.a * self.k:g})"


# ---- sound specs: the i.i.d. laws discretised to the input's grid (docs/sound.md) ----------------------


def grid_size(name: str, value, owner: str, spec: Noise) -> int:
    """The grid size G (the grid is {i / G}): an int in [1, 65536]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= 1 << 16:
        raise ValueError(f"{owner}: {name} must be an integer in [1, 65536], got {value!r}")
    return int(value)


def non_negative(name: str, value, owner: str, spec: Noise) -> float:
    """A finite real number >= 0, stored as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: {name} must be a finite real number >= 0, got {value!r}")
    return float(value)


def flag(name: str, value, owner: str, spec: Noise) -> bool:
    """A bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {value!r}")
    return value


SOUND_PARAMETERS = (
    Param("grid", "grid size G: inputs and outputs are grid values i / G", default=255, check=grid_size, kernel=False,
          fmt="d"),
    Param("clip", "x + delta is clipped to [-clip, 1 + clip] (a multiple of 1 / G)", default=1.0, check=non_negative,
          kernel=False),
    Param("index", "write the grid index i instead of the value i / G", default=False, check=flag, kernel=False,
          fmt=""),
    Param("quantize", "round off-grid inputs to the grid instead of rejecting them", default=False, check=flag,
          kernel=False, fmt=""),
)


class _Sound:
    """A sound spec: delta = i / G drawn exactly from the continuous family's law discretised to the grid,
    P(delta = i / G) = F((2i+1)/(2G)) - F((2i-1)/(2G)), and x + delta clipped to [-clip, 1 + clip], all in
    integers (csrc/rsmooth/grid_noise.h). For x on the grid, x + delta = clip(round_G(x + Z)) with Z ~ F: a
    fixed function of x + Z, so the continuous family's certificate (same ``family``, same lambda) holds for
    the computation that runs. ``params`` are the continuous family's; the kernel's are ``kernel_params``."""

    parameters = SOUND_PARAMETERS

    def _check_shape(self):
        steps = self.clip * self.grid
        if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
            raise ValueError(f"{type(self).__name__}: clip * grid must be an integer (the clip bound is a grid "
                             f"value), got clip={self.clip!r}, grid={self.grid}")
        self.clip_steps = int(round(steps))

    @property
    def mode(self) -> str:
        return "sound"

    @property
    def law_error(self) -> float:
        """Total variation between the sampled law and the exact discretised one, at most (M + 1) 2^-64: each
        threshold is the floor of 2^64 F, so each of the 2 M + 1 cells' probabilities is off by less than 2^-64
        (docs/sound.md, "The table's rounding"). Certificates take p_lower - 2 law_error (and top-2's p_B +
        2 law_error)."""
        return (self.thresholds().entries + 1) * 2.0**-64

    @property
    def continuous(self) -> Noise:
        """The continuous spec of the same family and lambda (whose certificate this spec uses)."""
        return self.continuous_class(lambd=self.lambd)

    def thresholds(self):
        """The exact thresholds (rsmooth_ext.grid.Thresholds), cached on disk."""
        from .grid import get_thresholds

        return get_thresholds(self.family, self.lambd, self.grid, self.clip_steps)

    @property
    def kernel_family(self) -> str:
        return "grid"

    @property
    def kernel_params(self) -> list[float]:
        from .grid import FLAG_CHECKED, FLAG_INDEX

        flags = FLAG_CHECKED | (FLAG_INDEX if self.index else 0)  # prepare_input has checked x
        return [float(self.grid), float(self.clip_steps), float(self.thresholds().entries), float(flags)]

    def kernel_table(self, device):
        import torch

        from .grid import table_words

        tables = self.__dict__.setdefault("_tables", {})
        key = str(torch.device(device))
        if key not in tables:
            tables[key] = torch.from_numpy(table_words(self.thresholds())).to(device)
        return tables[key]

    def prepare_input(self, x, out_dtype=None):
        from .grid import check_on_grid, check_output_dtype, quantize

        owner = type(self).__name__
        check_output_dtype(out_dtype or x.dtype, self.grid, self.clip_steps, self.index, owner)
        if self.quantize:
            return quantize(x, self.grid)
        check_on_grid(x, self.grid, owner)
        return x

    def __eq__(self, other) -> bool:
        return Noise.__eq__(self, other) and self._sound_key() == other._sound_key()

    def __hash__(self) -> int:
        return hash((Noise.__hash__(self), self._sound_key()))

    def _sound_key(self) -> tuple:
        return (self.grid, self.clip_steps, self.index, self.quantize)


class SoundGaussian(_Sound, Gaussian):
    """The Gaussian N(0, lambda^2) discretised to the grid {i / G}: certified as :class:`Gaussian` (l2)."""

    continuous_class = Gaussian


class SoundLaplace(_Sound, Laplace):
    """The Laplace(0, lambda) law discretised to the grid {i / G}: certified as :class:`Laplace` (l1, linf)."""

    continuous_class = Laplace


class SoundUniform(_Sound, Uniform):
    """U(-lambda, lambda) discretised to the grid {i / G}: certified as :class:`Uniform` (l1, linf)."""

    continuous_class = Uniform

    def _check_shape(self):
        super()._check_shape()


SOUND_NOISES: dict[type[Noise], type[Noise]] = {Gaussian: SoundGaussian, Laplace: SoundLaplace, Uniform: SoundUniform}


def sound(noise: Noise, grid: int = 255, clip: float = 1.0, index: bool = False, quantize: bool = False) -> Noise:
    """The sound version of a Gaussian, Laplace or Uniform spec (same lambda): its law discretised to the grid
    {i / grid}, x + delta clipped to [-clip, 1 + clip], inputs checked to lie on the grid (or rounded to it,
    ``quantize=True``), outputs the grid values (or indices, ``index=True``). See :class:`SoundGaussian`."""
    if isinstance(noise, _Sound):
        raise TypeError(f"sound: {noise!r} is already a sound spec")
    cls = SOUND_NOISES.get(type(noise))
    if cls is None:
        raise TypeError(f"sound: noise must be a Gaussian, Laplace or Uniform spec, got {noise!r}")
    return cls(grid=grid, clip=clip, index=index, quantize=quantize, lambd=noise.lambd)


NOISES: dict[str, type[Noise]] = {
    cls.family: cls
    for cls in (Gaussian, Laplace, Uniform, Lomax, Masking, ExpInf, Exp1, Exp2, UniformBall, PowInf, Pow2, Expp)
}
DEFAULT_FAMILY = Gaussian.family  # the family a command samples when none is named


def _certify(self, p_lower, adversary: str | None = None, dim: int | None = None):
    """Certified radius at top-class probability lower bound ``p_lower`` against ``adversary`` (default:
    the noise's natural one); see :func:`rsmooth_ext.certificates.routes.certify`."""
    from .certificates.routes import certify

    return certify(self, p_lower, adversary, dim)


Noise.certify = _certify
