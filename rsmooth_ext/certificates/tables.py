"""Radius tables: one system for every certificate without a closed form, and the certificates built on them.

A table holds, for lambda = 1, sound lower bounds of the certified radius on an increasing grid of p, and one
:meth:`Table.lookup`. Every table lives in one in-memory store; where it comes from depends on its cost:

* persisted tables (Laplace vs l_inf; ExpInf(k != 1) vs l_inf; Exp1(k != 1) vs l1; Exp2(k not in {1, 2}) vs
  l2, :func:`get_table`): the files shipped in ``rsmooth_ext/certificates/shipped`` (d in {784, 3072, 150528},
  and the Exp2(k = 1) level set at d = 784), else the user cache directory (RSMOOTH_CACHE_DIR, else
  $XDG_CACHE_HOME/rsmooth_ext, under ``tables/``), else computed now (with a progress bar) and cached,
  written atomically. A file whose header does not match what is asked for (or that cannot be read) is
  rejected and recomputed. ``rsmooth tables`` lists, shows and builds them.
* computed tables (a few seconds each, kept in memory, :func:`computed_table`): the differential-method
  tables of ExpInf(k <= 1, j > 0) vs l_inf, PowInf vs l_inf and Expp(p < 1, p != 1/2) vs l1 on the grid
  p_i = Phi_N(z_i) (z evenly spaced up to Phi_N^-1(1 - 1e-7)), and the two-sided ExpInf(k > 1, j > 0) vs l_inf
  table; looked up by rounding p down to the grid.
* level-set points (:func:`levelset_point`): the per-p level-set radii of Pow2 and Exp2(j > 0) vs l2 (a few
  tenths of a second to a second each), kept in memory per distinct p.

Table kinds on disk:

* Differential-method tables also store the growth function Phi(1 - p_i) at every grid point (and at
  u = 1/2), with a relative error bound ``phi_rtol``. Phi is non-decreasing on (0, 1/2], so between grid
  points p_i < p < p_{i+1} the radius R(p) = integral_{1-p}^{1/2} du / Phi(u) is at least

      max(R_i + (p - p_i) / (Phi(1 - p_i) (1 + phi_rtol)),  R_{i+1} - (p_{i+1} - p) / (Phi(1 - p_{i+1}) (1 - phi_rtol)))

  with p_0 = 1/2, R_0 = 0; above the last grid point the first term still holds. Every entry R_i has
  its own accumulated integration error and the relative error bound of Phi subtracted.
* Level-set tables (Exp2 against l2) hold radii r_i on a geometric grid with the probability p_i needed to
  certify each; a lookup returns the largest r_i with p_i <= p (0 below the first).

A lookup gives 0 for p <= 1/2. Every table-backed certificate is rounded toward zero by ``TABLE_MARGIN``.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..cache import atomic_write, cache_dir
from . import differential, levelset
from .checks import check_p
from .margins import TABLE_MARGIN, round_down
from .registry import certificate

FORMAT_VERSION = 2
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped")
SHIPPED_DIMS = (784, 3072, 150528)
P_MAX = 1.0 - 1e-7
GRID_POINTS = 1000  # evenly spaced in z = Phi_N^-1(p); plus NEAR_HALF_POINTS geometric in p - 1/2 below its first point
NEAR_HALF_POINTS = 40
LEVELSET_POINTS = 300
LEVELSET_SPAN = 1e-3  # the level-set radius grid is geometric from LEVELSET_SPAN * r(P_MAX) to r(P_MAX)
# Exp2(k = 1): the level set only has to beat the differential closed form (tight near p = 1/2, at most
# 0.14% low at d = 784, higher p), so its grid covers the upper radii finely (ratio 1.0006)
LEVELSET_K1_POINTS = 2500
LEVELSET_K1_SPAN = 0.2
INTEGRATION_RTOL = 1e-10
EXP2_TAU_POINTS = 800  # thresholds of the Exp2 differential table (k not in {1, 2})
# relative error bound of the growth function's float evaluation (measured below 2e-13 against mpmath at
# d <= 150528, tests/certificates/test_oracle.py; see docs/certificates.md, margin policy)
PHI_RTOL = 1e-10

# (family, adversary) -> method of the persisted tables; which k have closed forms instead: closed_forms.py
TABLE_PAIRS = {
    ("laplace", "linf"): "differential",
    ("expinf", "linf"): "differential",
    ("exp1", "l1"): "differential",
    ("exp2", "l2"): "level-set",
}
# what ships: Laplace vs linf at the common input sizes, and the Exp2(k = 1) level set at d = 784, where it
# beats the differential closed form by more than 0.1% (< 0.04% at d >= 3072); the other radial families'
# default k = 1 has closed forms
SHIPPED = [("laplace", "linf", d, None) for d in SHIPPED_DIMS] + [("exp2", "l2", 784, 1.0)]


@dataclass(frozen=True)
class Table:
    header: dict
    p: np.ndarray  # increasing grid in (1/2, 1)
    radius: np.ndarray  # sound, non-decreasing radii for lambda = 1
    phi: np.ndarray | None = None  # differential tables: Phi(1 - p_i); None for level-set tables

    def lookup(self, p: np.ndarray) -> np.ndarray:
        """Sound radius (lambda = 1) at each p (see the module docstring); 0 for p <= 1/2."""
        p = np.asarray(p, dtype=np.float64)
        if self.phi is None:
            index = np.searchsorted(self.p, p, side="right") - 1
            out = np.where(index >= 0, self.radius[np.clip(index, 0, None)], 0.0)
            return np.where(p > 0.5, out, 0.0)
        rtol = float(self.header["phi_rtol"])
        grid = np.concatenate([[0.5], self.p])
        radius = np.concatenate([[0.0], self.radius])
        phi = np.concatenate([[float(self.header["phi_half"])], self.phi])
        i = np.clip(np.searchsorted(grid, p, side="right") - 1, 0, grid.size - 1)
        j = np.minimum(i + 1, grid.size - 1)
        # p - grid and grid - p are exact (Sterbenz: both lie in [1/2, 1])
        from_below = radius[i] + (p - grid[i]) / (phi[i] * (1.0 + rtol))
        from_above = np.where(j > i, radius[j] - (grid[j] - p) / (phi[j] * (1.0 - rtol)), 0.0)
        return np.where(p > 0.5, np.maximum(np.maximum(from_below, from_above), 0.0), 0.0)


def expected_header(family: str, adversary: str, d: int, k: float | None, method: str | None = None) -> dict:
    return {
        "format": FORMAT_VERSION,
        "family": family,
        "adversary": adversary,
        "d": int(d),
        "k": None if k is None else float(k),
        "method": method or TABLE_PAIRS[(family, adversary)],
        "p_max": P_MAX,
        "lambda": 1.0,
    }


def file_name(family: str, adversary: str, d: int, k: float | None, method: str | None = None) -> str:
    k_part = "" if k is None else f"-k{float(k):.6g}"
    method_part = "" if method in (None, TABLE_PAIRS[(family, adversary)]) else f"-{method}"
    return f"{family}-{adversary}-d{int(d)}{k_part}{method_part}.npz"


_MEMORY: dict[tuple, Table] = {}


def get_table(family: str, adversary: str, d: int, k: float | None = None, *, progress: bool = True,
              method: str | None = None) -> Table:
    """The table for (family, adversary, d, k): from memory, the shipped files, the user cache, or
    computed now (and cached). ``method``: the pair's own (default) or 'differential' for Exp2/l2 (the
    differential-method bound that complements its level-set table)."""
    if (family, adversary) not in TABLE_PAIRS:
        raise ValueError(f"no radius table for {family}/{adversary}; tables exist for "
                         + ", ".join(f"{f}/{a}" for f, a in TABLE_PAIRS))
    if method not in (None, TABLE_PAIRS[(family, adversary)]) and (family, adversary, method) != ("exp2", "l2",
                                                                                                    "differential"):
        raise ValueError(f"method for {family}/{adversary} must be {TABLE_PAIRS[(family, adversary)]!r}, "
                         f"got {method!r}")
    method = None if method == TABLE_PAIRS[(family, adversary)] else method
    key = (family, adversary, int(d), None if k is None else float(k), method)
    if key in _MEMORY:
        return _MEMORY[key]
    header = expected_header(*key)
    name = file_name(*key)
    for directory in (SHIPPED_DIR, os.path.join(cache_dir(), "tables")):
        table = _load(os.path.join(directory, name), header)
        if table is not None:
            _MEMORY[key] = table
            return table
    table = compute_table(*key, progress=progress)
    save_table(table, os.path.join(cache_dir(), "tables", name))
    _MEMORY[key] = table
    return table


def _load(path: str, header: dict) -> Table | None:
    """The table at ``path`` if it exists, reads cleanly and has exactly ``header``; else None."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            stored = json.loads(str(f["header"]))
            p, radius = np.array(f["p"], dtype=np.float64), np.array(f["radius"], dtype=np.float64)
            phi = np.array(f["phi"], dtype=np.float64) if "phi" in f.files else None
    except Exception:  # noqa: BLE001 - any unreadable file is recomputed
        return None
    stored_core = {k: v for k, v in stored.items() if k in header}
    if stored_core != header or p.shape != radius.shape or p.ndim != 1 or p.size == 0:
        return None
    if not (np.all(np.diff(p) > 0) and np.all(np.diff(radius) >= 0) and np.all(np.isfinite(radius))):
        return None
    if header["method"] == "differential" and not (
        phi is not None and phi.shape == p.shape and np.all(phi > 0) and np.all(np.isfinite(phi))
        and float(stored.get("phi_half", 0.0)) > 0 and float(stored.get("phi_rtol", -1.0)) >= 0
    ):
        return None
    return Table(stored, p, radius, phi)


def save_table(table: Table, path: str) -> None:
    buffer = io.BytesIO()
    arrays = {"p": table.p, "radius": table.radius} | ({} if table.phi is None else {"phi": table.phi})
    np.savez_compressed(buffer, header=np.array(json.dumps(table.header, sort_keys=True)), **arrays)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def probability_grid(points: int = GRID_POINTS, near_half: int = NEAR_HALF_POINTS) -> np.ndarray:
    """p = Phi_N(z) for z evenly spaced in (0, Phi_N^-1(P_MAX)] (fine near 1/2 and near 1), preceded by
    ``near_half`` points with p - 1/2 geometric from 1e-12 up to the first of those."""
    z = np.linspace(0.0, float(special.ndtri(P_MAX)), points + 1)[1:]
    uniform_z = special.ndtr(z)
    first = float(uniform_z[0]) - 0.5
    close = 0.5 + np.geomspace(1e-12, first, near_half + 1)[:-1]
    return np.concatenate([close, uniform_z])


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pt", disable=not enabled or not sys.stderr.isatty(), leave=False)


def compute_table(family: str, adversary: str, d: int, k: float | None, method: str | None = None, *,
                  progress: bool = True) -> Table:
    header = expected_header(family, adversary, d, k, method)
    desc = f"rsmooth_ext: radius table {file_name(family, adversary, d, k, method)[:-4]}"
    if family == "exp2" and header["method"] == "differential" and d > 1:
        p, radius, phi, phi_half, error, phi_rtol = _exp2_differential(d, k, progress, desc)
        header.update(phi_half=phi_half, phi_rtol=phi_rtol)
    elif header["method"] == "differential" or d == 1:
        p, radius, phi, phi_half, error = _differential(family, d, k, progress, desc)
        header.update(phi_half=phi_half, phi_rtol=PHI_RTOL)
    else:
        p, radius, error = _levelset(d, k, progress, desc)
        phi = None
    header["error_bound"] = error
    header["points"] = int(p.size)
    return Table(header, p, radius, phi)


def _phi(family: str, d: int, k: float | None):
    if family == "laplace":
        return differential.phi_laplace_linf(d)
    if family == "expinf":
        return differential.phi_expinf_linf(k, d)
    return differential.phi_exp1_l1(k, d)  # exp1 vs l1; also exp2 in one dimension (all norms agree)


def _differential(family, d, k, progress, desc):
    """Grid, sound radii, Phi at the grid points and at u = 1/2, and the largest error subtracted."""
    p = probability_grid()
    phi = _phi(family, d, k)
    if family == "laplace":  # the exact piecewise evaluation, already rounded toward zero by its margin
        radius = differential.laplace_linf_radius(d, p)
        error = float(np.max(radius)) * differential.LAPLACE_LINF_MARGIN
    else:
        with _progress(p.size, desc, progress) as bar:
            pieces, errors = differential.differential_pieces(phi, p, rtol=INTEGRATION_RTOL,
                                                              on_piece=lambda: bar.update(1))
        # each entry loses its own accumulated quad error, then the relative error bound of Phi
        radius = (np.cumsum(pieces) - np.cumsum(errors)) * (1.0 - PHI_RTOL)
        error = float(np.sum(errors))
    return p, _sound_monotone(radius), np.asarray(phi(1.0 - p), dtype=np.float64), float(phi(0.5)), error


def _exp2_differential(d, k, progress, desc):
    """Exp2(k) vs l2 by the differential method: the growth function at EXP2_TAU_POINTS thresholds tau
    (evenly spaced up to where P(G > tau) < (1 - P_MAX) / 2), integrated with the concave tangent bounds. The
    nodes' quad errors inflate Phi (an error e_u of u moves Phi by at most tau e_u), then PHI_RTOL."""
    scale = k * math.sqrt(float(special.poch(d / k, 2.0 - 2.0 / k)) / d)  # std of G = k rho^(k-1) w_1
    top = 8.0 * scale
    while differential.exp2_l2_growth_nodes(k, d, [top])[0][0] > 0.5 * (1.0 - P_MAX):
        top *= 1.5
    tau = np.linspace(0.0, top, EXP2_TAU_POINTS)
    u, phi, u_err, phi_err = np.empty_like(tau), np.empty_like(tau), np.empty_like(tau), np.empty_like(tau)
    with _progress(tau.size, desc, progress) as bar:
        for i, t in enumerate(tau):
            u[i], phi[i], u_err[i], phi_err[i] = (x[0] for x in differential.exp2_l2_growth_nodes(k, d, [t]))
            bar.update(1)
    keep = np.concatenate([[True], np.diff(u) < 0]) & (u > 0) & (phi > 0)
    u, phi, tau, u_err, phi_err = u[keep], phi[keep], tau[keep], u_err[keep], phi_err[keep]
    u[0] = 0.5  # tau = 0: exactly half the mass (G is symmetric with no atom)
    slack = phi_err + np.concatenate([[0.0], tau[:-1]]) * u_err  # |Phi(u_j) - phi_j| <= this
    upper = (phi + slack) * (1.0 + PHI_RTOL)
    radius = differential.concave_tangent_radii(u, upper, tau)[1:]
    phi_rtol = float(np.max(slack / phi)) + PHI_RTOL
    # p_j rounded up, so that 1 - p_j <= u_j and R_j (the integral from u_j) stays below R(p_j)
    return (np.nextafter(1.0 - u[1:], 2.0), _sound_monotone(radius), phi[1:], float(phi[0]), float(np.max(slack)),
            max(phi_rtol, PHI_RTOL))


def _levelset(d, k, progress, desc):
    """Exp2 vs l2: radii r_i on a geometric grid up to the radius at P_MAX, each with a verified probability
    p_needed(r_i) such that every p > p_needed certifies r_i; stored as (p_needed, r)."""
    r_max = levelset.exp2_l2_levelset_radius(k, d, P_MAX)
    span, points = (LEVELSET_K1_SPAN, LEVELSET_K1_POINTS) if k == 1.0 else (LEVELSET_SPAN, LEVELSET_POINTS)
    r = r_max * np.geomspace(span, 1.0, points)
    needed = np.empty_like(r)
    with _progress(r.size, desc, progress) as bar:
        for i, ri in enumerate(r):
            needed[i] = levelset.exp2_l2_levelset_table(k, d, [ri])[0]
            bar.update(1)
    ok = np.isfinite(needed) & (needed < 1.0)
    r, needed = r[ok], needed[ok]
    # p_needed must be increasing in r: raising an entry to the running maximum is sound
    needed = np.maximum.accumulate(needed)
    # a p strictly above p_needed(r_i) certifies r_i: store the next float up, so lookup's "<=" is strict
    p_grid = np.nextafter(needed, 2.0)
    keep = np.concatenate([np.diff(p_grid) > 0, [True]])  # equal p: keep the largest radius
    return p_grid[keep], r[keep], 0.0


def _sound_monotone(radius: np.ndarray) -> np.ndarray:
    """Clip at 0 and lower each entry to the minimum of the entries after it (non-decreasing, sound)."""
    radius = np.maximum(radius, 0.0)
    return np.minimum.accumulate(radius[::-1])[::-1]




# ---- computed tables (kept in memory) ----------------------------------------------------------------------

COMPUTED_P_MAX = 1.0 - 1e-7
COMPUTED_POINTS = 2000
COMPUTED_RTOL = 1e-10


def computed_probability_grid() -> np.ndarray:
    """The grid of the computed differential tables: p = Phi_N(z), z evenly spaced in (0, Phi_N^-1(1 - 1e-7)]."""
    z = np.linspace(0.0, float(special.ndtri(COMPUTED_P_MAX)), COMPUTED_POINTS + 1)[1:]
    return special.ndtr(z)


# kind -> growth-function factory of the computed differential tables
_COMPUTED_PHI: dict[str, Callable] = {
    "expinf_j_linf": differential.phi_expinf_j_linf,
    "powinf_linf": differential.phi_powinf_linf,
    "expp_l1": differential.phi_expp_l1,
}
COMPUTED_KINDS = (*_COMPUTED_PHI, "expinf_two_sided_linf")


def _compute_in_memory(kind: str, args: tuple) -> Table:
    if kind == "expinf_two_sided_linf":
        p, radius = differential.expinf_two_sided_linf_table(*args)
    else:
        phi = _COMPUTED_PHI[kind](*args)
        p = computed_probability_grid()
        radius, error = differential.differential_table(phi, p, rtol=COMPUTED_RTOL)
        radius = np.maximum(radius - error, 0.0)  # every entry's integration error is at most the total
        radius = np.minimum.accumulate(radius[::-1])[::-1]  # non-decreasing, each entry lowered (sound)
    return Table({"kind": kind, "args": list(args), "lambda": 1.0}, p, radius)


def computed_table(kind: str, args: tuple) -> Table:
    """The in-memory table ``kind`` (one of ``COMPUTED_KINDS``) for the growth function's arguments ``args``,
    computed on first use (a few seconds) and kept in the same store as the persisted tables. Its lookup is
    the entry of the largest grid point <= p (radii are non-decreasing in p, so this is a lower bound)."""
    if kind not in COMPUTED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(COMPUTED_KINDS)}, got {kind!r}")
    key = ("computed", kind, tuple(args))
    if key not in _MEMORY:
        _MEMORY[key] = _compute_in_memory(kind, tuple(args))
    return _MEMORY[key]


# ---- level-set points (kept in memory per distinct p) ------------------------------------------------------

_POINTS: dict[tuple, float] = {}
_LEVEL_SETS: dict[tuple, levelset.LevelSet] = {}


def levelset_point(family: str, args: tuple, p: float) -> float:
    """The level-set l2 radius (lambda = 1) of 'pow2' (args (k, a, d)) or 'exp2' (args (k, j, d); j = 0 for the
    j-free engine) at one p, computed on first use and remembered (the level-set object of each parameter set is
    reused)."""
    key = (family, tuple(args), float(p))
    if key not in _POINTS:
        if family == "pow2":
            ls = _LEVEL_SETS.setdefault((family, args), None) or levelset.Pow2LevelSet(*args)
            _POINTS[key] = levelset.pow2_l2_levelset_point(*args, float(p), ls)
        elif family == "exp2" and args[1] == 0.0:
            k, _, d = args
            ls = _LEVEL_SETS.setdefault((family, args), None) or levelset.Exp2LevelSet(k, d)
            _POINTS[key] = levelset.exp2_l2_levelset_point(k, d, float(p), ls)
        elif family == "exp2":
            ls = _LEVEL_SETS.setdefault((family, args), None) or levelset.Exp2JLevelSet(*args)
            _POINTS[key] = levelset.exp2_j_l2_levelset_point(*args, float(p), ls)
        else:
            raise ValueError(f"family must be 'pow2' or 'exp2', got {family!r}")
        _LEVEL_SETS[(family, args)] = ls
    return _POINTS[key]


def _levelset_points(family: str, args: tuple, p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.array([levelset_point(family, args, float(pi)) for pi in p.ravel()]).reshape(p.shape)


def pow2_l2_levelset_radius(k: float, a: float, d: int, p):
    """Certified l2 radius of Pow2(k, a, d) (lambda = 1, d >= 2, a k > d) by the level-set (Neyman-Pearson)
    method (:class:`.levelset.Pow2LevelSet`): exact up to the verified numerical error. Each distinct p costs a
    few tenths of a second (remembered, :func:`levelset_point`). Vectorised over p (1/2 < p < 1)."""
    k, a, d = levelset.check_pow2_args(k, a, d, "pow2_l2_levelset_radius")
    out = _levelset_points("pow2", (k, a, d), check_p(p, "pow2_l2_levelset_radius"))
    return float(out) if out.ndim == 0 else out


def exp2_j_l2_levelset_radius(k: float, j: float, d: int, p):
    """Certified l2 radius of Exp2(k, j, d), j > 0 (lambda = 1, d >= 2, j < d), by the level-set method
    (:class:`.levelset.Exp2JLevelSet`). Each distinct p costs about a second (remembered,
    :func:`levelset_point`). Vectorised over p (1/2 < p < 1)."""
    k, j, d = levelset.check_exp2_j_args(k, j, d, "exp2_j_l2_levelset_radius")
    out = _levelset_points("exp2", (k, j, d), check_p(p, "exp2_j_l2_levelset_radius"))
    return float(out) if out.ndim == 0 else out


# ---- the table-backed certificates (noise, p, d) -----------------------------------------------------------


def _below_one(p: np.ndarray) -> np.ndarray:
    """p capped below 1 (the level-set radii need p < 1; radii are non-decreasing in p, so still a lower bound)."""
    return np.minimum(p, np.nextafter(1.0, 0.0))


def _persisted(noise, family: str, adversary: str, p, d, k=None, method=None):
    return round_down(noise.lambd * get_table(family, adversary, d, k, method=method).lookup(p), TABLE_MARGIN)


def _computed(noise, kind: str, args: tuple, p):
    return round_down(noise.lambd * computed_table(kind, args).lookup(p), TABLE_MARGIN)


@certificate("laplace", "linf", needs_dim=True)
def laplace_linf(noise, p, d):
    return _persisted(noise, "laplace", "linf", p, d)


@certificate("expinf", "linf", needs_dim=True, when=lambda noise: noise.k != 1.0 and not noise.j)
def expinf_linf_table(noise, p, d):
    return _persisted(noise, "expinf", "linf", p, d, noise.k)


@certificate("expinf", "linf", needs_dim=True, when=lambda noise: noise.k <= 1.0 and bool(noise.j))
def expinf_j_linf_table(noise, p, d):
    return _computed(noise, "expinf_j_linf", (noise.k, noise.j, d), p)


@certificate("expinf", "linf", needs_dim=True, when=lambda noise: noise.k > 1.0 and bool(noise.j))
def expinf_j_linf_two_sided(noise, p, d):
    # g(r) = j/r + k r^(k-1) is U-shaped: the two-sided top set (never below the l1 conversion R_l1 / d,
    # which certify's routes add)
    return noise.lambd * computed_table("expinf_two_sided_linf", (noise.k, noise.j, d)).lookup(p)


@certificate("exp1", "l1", needs_dim=True, when=lambda noise: noise.k != 1.0)
def exp1_l1_table(noise, p, d):
    return _persisted(noise, "exp1", "l1", p, d, noise.k)


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: noise.k == 1.0 and not noise.j)
def exp2_l2_k1_shipped_levelset(noise, p, d):
    # the exact level set, where a table ships, is up to 0.14% larger than the closed form
    if ("exp2", "l2", d, 1.0) not in SHIPPED:
        return None
    return _persisted(noise, "exp2", "l2", p, d, noise.k)


# Exp2(k = 1) below this input size (where no table ships): the differential closed form is up to 4.9% below the
# exact radius (d = 10, p = 1 - 1e-7; 1% at d = 100, 0.37% at d = 300; < 0.04% from d = 3072), so the level set
# is computed per distinct p (about 0.1 s each, remembered) wherever p > EXP2_K1_LEVELSET_FROM (at P_MAX above it);
# below that the closed form is within 0.02% (tight to second order at p = 1/2)
EXP2_K1_LEVELSET_BELOW = 3072
EXP2_K1_LEVELSET_FROM = 0.51


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: noise.k == 1.0 and not noise.j)
def exp2_l2_k1_levelset_points(noise, p, d):
    if d == 1 or d >= EXP2_K1_LEVELSET_BELOW or ("exp2", "l2", d, 1.0) in SHIPPED:
        return None
    p = np.asarray(p, dtype=np.float64)
    out = np.zeros_like(p)
    far = p > EXP2_K1_LEVELSET_FROM
    if far.any():
        # above P_MAX (where the engine's tails reach its truncation error) the radius at P_MAX is a lower bound
        out[far] = _levelset_points("exp2", (1.0, 0.0, d), np.minimum(p[far], P_MAX))
    return noise.lambd * out


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: noise.k not in (1.0, 2.0) and not noise.j)
def exp2_l2_levelset_table(noise, p, d):
    # the level set is exact on its radius grid (in one dimension: the differential table)
    return _persisted(noise, "exp2", "l2", p, d, noise.k)


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: noise.k not in (1.0, 2.0) and not noise.j)
def exp2_l2_differential_table(noise, p, d):
    # continuous in p and tight near 1/2, where the level-set grid is coarse
    if d == 1:
        return None
    return _persisted(noise, "exp2", "l2", p, d, noise.k, method="differential")


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: bool(noise.j))
def exp2_j_l2_levelset(noise, p, d):
    return noise.lambd * exp2_j_l2_levelset_radius(noise.k, noise.j, d, _below_one(p))


@certificate("powinf", "linf", needs_dim=True)
def powinf_linf_table(noise, p, d):
    return _computed(noise, "powinf_linf", (noise.a, d), p)


@certificate("expp", "l1", needs_dim=False, when=lambda noise: noise.p < 1.0 and noise.p != 0.5)
def expp_l1_table(noise, p, d):
    return _computed(noise, "expp_l1", (noise.p,), p)


@certificate("pow2", "l2", needs_dim=True)
def pow2_l2_levelset(noise, p, d):
    return noise.lambd * pow2_l2_levelset_radius(noise.k, noise.a, d, _below_one(p))


def read_header(path: str) -> dict | None:
    """The header of the table file at ``path`` (None if it cannot be read)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return json.loads(str(f["header"]))
    except Exception:  # noqa: BLE001 - an unreadable file has no header
        return None
