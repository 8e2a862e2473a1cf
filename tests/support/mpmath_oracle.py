"""An independent high-precision oracle for the certified radii: every direct certificate of
rsmooth_ext.certificates evaluated with mpmath (40 digits) from its defining expression, by code that shares
nothing with the library's float evaluation (its own root finding, its own quadrature, its own binomial
sums). ``exact(noise, adversary, p, d)`` is the max over the direct certificate and every norm conversion,
which is what ``noise.certify`` must approach from below.

Exp2 against l2 for k not in {1, 2} (the level-set method) has no mpmath form here (a two-dimensional
integral with a root inside); tests check it against the library's quad-verified level-set radius."""

from __future__ import annotations

import functools
import math

import pytest
from scipy import special

# imported by test modules only: without mpmath, the importing module is skipped (never a collection error)
mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 40
mpf = mpmath.mpf


# ---- closed forms ------------------------------------------------------------------------------------
def gaussian_l2(p):
    return mpmath.sqrt(2) * mpmath.erfinv(2 * mpf(p) - 1)


def laplace_l1(p):
    return -mpmath.log(2 * (1 - mpf(p)))


def uniform_l1(p):
    return 2 * (mpf(p) - mpf(1) / 2)


def uniform_linf(p, d):
    return 2 * (1 - (mpf(3) / 2 - mpf(p)) ** (mpf(1) / d))


def lomax_l1(p, k):
    k = mpf(k)
    q = 2 * mpf(p) - 1
    return q / k * mpmath.hyp2f1(1, k / (k + 1), k / (k + 1) + 1, q ** (1 + 1 / k))


def uniform_ball_l2(p, d):
    """The distance 2 sqrt(y) at which two unit balls overlap in a fraction 3/2 - p of their volume:
    I_{1-y}((d+1)/2, 1/2) = 3/2 - p, solved for y by bisection in log y."""
    a = mpf(d + 1) / 2
    target = mpf(3) / 2 - mpf(p)

    def overlap(y):  # I_{1-y}(a, 1/2) = 1 - I_y(1/2, a)
        return 1 - mpmath.betainc(mpf(1) / 2, a, 0, y, regularized=True)

    lo, hi = mpf(-200), mpf(0)  # log y
    for _ in range(140):
        mid = (lo + hi) / 2
        if overlap(mpmath.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
    return 2 * mpmath.sqrt(mpmath.exp((lo + hi) / 2))


def masking_l0(p, keep):
    """Largest integer R with p > 3/2 - (1 - keep)^R, decided at 40 digits on the exact float inputs."""
    p, keep = mpf(p), mpf(keep)
    if keep >= 1:
        return 0
    r = int(mpmath.floor(mpmath.log(mpf(3) / 2 - p) / mpmath.log(1 - keep))) if p > mpf(1) / 2 else 0
    r = max(r, 0)
    while r > 0 and not p > mpf(3) / 2 - (1 - keep) ** r:
        r -= 1
    while p > mpf(3) / 2 - (1 - keep) ** (r + 1):
        r += 1
    return r


# ---- top-2 radii, from the papers' statements ----------------------------------------------------------
def normal_quantile(p):
    """Phi^-1(p) as the root of mpmath's normal CDF (accurate in both tails), by Newton's method in the working
    precision (scipy's value only starts it)."""
    p = mpf(p)
    z = mpf(float(special.ndtri(float(p)))) if 0 < float(p) < 1 else mpf(0)
    for _ in range(100):
        # in the upper tail solve 1 - Phi(z) = 1 - p (no cancellation), else Phi(z) = p
        step = (-(mpmath.ncdf(-z) - (1 - p)) if z > 0 else mpmath.ncdf(z) - p) / mpmath.npdf(z)
        z -= step
        if abs(step) <= (abs(z) + 1) * mpf(10) ** (-mpmath.mp.dps + 3):
            return z
    raise ArithmeticError(f"normal_quantile({p}) did not converge")


def gaussian_l2_top2(p_a, p_b, sigma):
    """Cohen et al. (2019), Theorem 1: sigma/2 (Phi^-1(p_A) - Phi^-1(p_B))."""
    return mpf(sigma) / 2 * (normal_quantile(p_a) - normal_quantile(p_b))


def laplace_l1_top2(p_a, p_b, lambd):
    """Teng et al. (2020), Theorem 1: max(lambda/2 log(p_A / p_B), -lambda log(1 - p_A + p_B))."""
    p_a, p_b = mpf(p_a), mpf(p_b)
    return mpf(lambd) * max(mpmath.log(p_a / p_b) / 2, -mpmath.log(1 - p_a + p_b))


# ---- the radial families -----------------------------------------------------------------------------
def _gamma_quantile(a, tail, upper: bool):
    """x with Q_a(x) = tail (upper) or P_a(x) = tail, at 40 digits (scipy's value as the start)."""
    start = special.gammainccinv(float(a), float(tail)) if upper else special.gammaincinv(float(a), float(tail))

    def f(x):
        if upper:
            return mpmath.log(mpmath.gammainc(a, x, mpmath.inf, regularized=True)) - mpmath.log(tail)
        return mpmath.log(mpmath.gammainc(a, 0, x, regularized=True)) - mpmath.log(tail)

    return mpmath.findroot(f, mpf(start), tol=mpf(10) ** -30)


def radial_sign_differential(p, k, d):
    """integral_{1-p}^{1/2} du / Phi(u), Phi(u) = (k/2) Gamma(b)/Gamma(a) Q_b(Q_a^-1(2u)) (k >= 1; P for
    k < 1), a = d/k, b = a + 1 - 1/k: ExpInf against linf and Exp1 against l1. With u = Q_a(x)/2 it is
    integral_0^{x_p} x^(a-1) e^-x / (k Gamma(b, x)) dx (k >= 1), integral_{x_p}^inf x^(a-1) e^-x / (k gamma(b, x)) dx
    (k < 1), with x_p = Q_a^-1(2(1-p)) resp. P_a^-1(2(1-p))."""
    k = mpf(k)
    a = mpf(d) / k
    b = a + 1 - 1 / k
    tail = 2 * (1 - mpf(p))
    x_p = _gamma_quantile(a, tail, upper=k >= 1)

    def integrand(x):
        if x <= 0:
            return mpf(0)
        incomplete = mpmath.gammainc(b, x, mpmath.inf) if k >= 1 else mpmath.gammainc(b, 0, x)
        return mpmath.exp((a - 1) * mpmath.log(x) - x - mpmath.log(incomplete)) / k

    spread = mpmath.sqrt(a)
    marks = sorted({max(mpf(0), a + j * spread) for j in range(-12, 13)})
    if k >= 1:
        edges = [mpf(0)] + [m for m in marks if 0 < m < x_p] + [x_p]
    else:
        edges = [x_p] + [m for m in marks if m > x_p] + [mpmath.inf]
    return mpmath.quad(integrand, edges)


def expinf_l1(p, k, d):
    """The differential integral with Phi_l1(u) = Phi_linf(min(d u, 1/2)) / d: (p - 1/2) d / Phi_linf(1/2)
    up to p* = 1 - 1/(2d), plus the linf integral at 1 - d (1 - p) above it."""
    k, p = mpf(k), mpf(p)
    a = mpf(d) / k
    b = a + 1 - 1 / k
    phi_half = k / 2 * mpmath.exp(mpmath.loggamma(b) - mpmath.loggamma(a))
    kink = 1 - mpf(1) / (2 * d)
    linear = (min(p, kink) - mpf(1) / 2) * d / phi_half
    if p <= kink:
        return linear
    inner = 1 - d * (1 - p)
    return linear + (mpf(0) if k == 1 and inner <= mpf(1) / 2 else
                     (-mpmath.log(2 * (1 - inner)) if k == 1 else radial_sign_differential(inner, k, d)))


def exp2_l2_k1_differential(p, d):
    """(d - 1) artanh(t), P(w_1 > t) = 1 - p for w_1 the first coordinate of a uniform point on the sphere
    of R^d (density c_d (1 - s^2)^((d-3)/2)): a safeguarded Newton iteration (bisection whenever a step leaves
    the bracket) on mpmath quadratures of that density, started from scipy's value. The tail is integrated from
    the nearer end: 1/2 - integral_0^t for small t (accurate to the last digit as p -> 1/2, where the tail itself
    is 1/2 less a tiny amount), integral_t^1 otherwise. d = 2 and 3 have the tail in closed form."""
    d_mp = mpf(d)
    if d == 2:  # w_1 = cos(theta), theta uniform on [0, pi]: P(w_1 > t) = arccos(t) / pi
        return mpmath.atanh(mpmath.cos(mpmath.pi * (1 - mpf(p))))
    if d == 3:  # Archimedes: w_1 is uniform on [-1, 1]
        return 2 * mpmath.atanh(1 - 2 * (1 - mpf(p)))
    log_c = mpmath.loggamma(d_mp / 2) - mpmath.log(mpmath.pi) / 2 - mpmath.loggamma((d_mp - 1) / 2)
    scale = 1 / mpmath.sqrt(d_mp)

    def density(s):
        return mpmath.exp(log_c + (d_mp - 3) / 2 * mpmath.log1p(-s * s))

    def upper(t):
        if t < mpf(1) / 2:
            marks = [j * scale for j in range(1, 40) if j * scale < t]
            return mpf(1) / 2 - mpmath.quad(density, [mpf(0)] + marks + [t])
        marks = [t + j * scale for j in range(1, 40) if t + j * scale < 1]
        return mpmath.quad(density, [t] + marks + [mpf(1)])

    target = 1 - mpf(p)
    a = 0.5 * (d - 1)
    lo, hi = mpf(0), mpf(1)  # upper(lo) >= target > upper(hi) (1 - p < 1/2)
    t = mpf(1 - 2 * float(special.betaincinv(a, a, float(target))))
    if not lo < t < hi:
        t = (lo + hi) / 2
    for _ in range(200):
        excess = upper(t) - target
        if excess > 0:
            lo = t
        else:
            hi = t
        step = excess / density(t)
        if abs(step) <= abs(t) * mpf(10) ** -34:
            t += step
            break
        candidate = t + step
        t = candidate if lo < candidate < hi else (lo + hi) / 2
    return (d_mp - 1) * mpmath.atanh(t)


# ---- Laplace against linf: the piecewise-linear growth function, from its own binomial sums -----------
@functools.lru_cache(maxsize=4)
def _laplace_linf_pieces(d: int):
    """(S_m = P(B > m), A_m = E[G 1{B > m}], slope 2m - d) for m = floor(d/2), ...: B ~ Binomial(d, 1/2),
    G = 2B - d, with the sums done directly in mpmath from exact binomial coefficients."""
    m0 = d // 2
    m1 = min(d, m0 + int(11 * math.sqrt(d)) + 25)
    coefficients = {}
    c = math.comb(d, m0)
    for j in range(m0, m1 + 2):
        coefficients[j] = c
        c = c * (d - j) // (j + 1) if j < d else 0
    scale = mpf(2) ** -d
    pieces = []
    tail = mean = mpf(0)  # sums over j > m, from the top down
    for m in range(m1, m0 - 1, -1):
        tail += mpf(coefficients[m + 1]) * scale
        mean += mpf((2 * (m + 1) - d) * coefficients[m + 1]) * scale
        pieces.append((tail, mean, 2 * m - d))
    return pieces[::-1]


def laplace_linf(p, d):
    """integral_{1-p}^{1/2} du / Phi(u) with Phi(u) = A_m + (2m - d)(u - S_m) on S_m <= u <= S_{m-1}."""
    u = 1 - mpf(p)
    half = mpf(1) / 2
    total = mpf(0)
    upper = half
    for tail, mean, slope in _laplace_linf_pieces(d):
        lo, hi = max(tail, u), min(upper, half)
        if hi > lo:
            start = mean + slope * (lo - tail)
            total += (hi - lo) / start if slope == 0 else mpmath.log1p(slope * (hi - lo) / start) / slope
        upper = tail
        if tail <= u:
            return total
    raise ValueError("laplace_linf oracle: p too close to 1 for the tabulated pieces")


# ---- the registry's direct certificates, and their max over the conversions ---------------------------
NEEDS_D = {("laplace", "linf"), ("uniform", "linf")}  # the radial families carry their own dim


def direct(noise, adversary: str, p, d):
    """The direct certificate (lambda included) of ``noise`` against ``adversary``; None if none."""
    family = noise.family
    d = d if d is not None else getattr(noise, "dim", None)
    if d is None and (family, adversary) in NEEDS_D:
        return None
    lam = mpf(getattr(noise, "lambd", None) or 1)
    k = getattr(noise, "k", None)
    table = {
        ("gaussian", "l2"): lambda: gaussian_l2(p),
        ("laplace", "l1"): lambda: laplace_l1(p),
        ("laplace", "linf"): lambda: laplace_linf(p, d),
        ("uniform", "l1"): lambda: uniform_l1(p),
        ("uniform", "linf"): lambda: uniform_linf(p, d),
        ("lomax", "l1"): lambda: lomax_l1(p, k),
        ("uniformball", "l2"): lambda: uniform_ball_l2(p, d),
        ("expinf", "l1"): lambda: expinf_l1(p, k, d),
        ("expinf", "linf"): lambda: laplace_l1(p) if k == 1 else radial_sign_differential(p, k, d),
        ("exp1", "l1"): lambda: laplace_l1(p) if k == 1 else radial_sign_differential(p, k, d),
        ("exp2", "l2"): lambda: (gaussian_l2(p) / mpmath.sqrt(2) if k == 2 else
                                 (laplace_l1(p) if d == 1 else exp2_l2_k1_differential(p, d)) if k == 1 else None),
    }
    if family == "masking":
        return mpf(masking_l0(p, noise.keep)) if adversary == "l0" else None
    if (family, adversary) not in table:
        return None
    value = table[(family, adversary)]()
    return None if value is None else lam * value


NORM_ORDER = {"l1": 1, "l2": 2, "linf": math.inf}


def norm_ratio(a: str, b: str, d: int):
    """max ||delta||_a / ||delta||_b over R^d."""
    pa, pb = NORM_ORDER[a], NORM_ORDER[b]
    if pa >= pb:
        return mpf(1)
    return mpf(d) ** (mpf(1) / pa - (0 if pb == math.inf else mpf(1) / pb))


def exact(noise, adversary: str, p, d):
    """The best certificate the registry's math gives: the max over the direct certificate and every
    conversion from another normed direct one (the ones the library must approach from below)."""
    if float(p) <= 0.5:
        return mpf(0)
    if adversary == "l0":
        return direct(noise, "l0", p, d)
    values = []
    for source in ("l1", "l2", "linf"):
        value = direct(noise, source, p, d)
        ratio = norm_ratio(source, adversary, d) if d is not None else None
        if value is not None and (d is not None or NORM_ORDER[source] >= NORM_ORDER[adversary]):
            values.append(value / (ratio if ratio is not None else 1))
    return max(values)
