"""The registry (rsmooth_ext.certificates.registry): the registered pairs and their conversions, and the
certificates chosen by the spec's parameters."""

import math

import numpy as np
import pytest

import rsmooth_ext as rs
from rsmooth_ext.certificates import registry, routes, tables


def test_registered_pairs_and_conversions():
    p = np.array([0.6, 0.9, 0.999])
    d = 3072
    powinf = rs.PowInf(a=d + 10, dim=d, sigma=0.5)
    np.testing.assert_allclose(powinf.certify(p, "l1"), powinf.lambd * 2 * d * (p - 0.5) / 10 * (1 - 1e-12), rtol=1e-12)
    linf = powinf.certify(p)  # natural adversary: l_inf, the differential table
    assert np.all(linf >= powinf.certify(p, "l1") / d)
    np.testing.assert_allclose(powinf.certify(p, "l2"), np.maximum(powinf.certify(p, "l1") / math.sqrt(d), linf),
                               rtol=1e-12)
    expp = rs.Expp(p=0.5, sigma=0.5)
    np.testing.assert_allclose(expp.certify(p, "l2", dim=d), expp.certify(p) / math.sqrt(d), rtol=1e-12)
    with pytest.raises(ValueError, match="depends on the input size"):
        expp.certify(p, "l2")
    # j = 0 keeps the j-free radii; j > 0 certifies l1 and (k <= 1) l_inf
    for k in (1.0, 2.0):
        np.testing.assert_array_equal(rs.ExpInf(k=k, j=0, dim=d, sigma=0.5).certify(p, "l1"),
                                      rs.ExpInf(k=k, dim=d, sigma=0.5).certify(p, "l1"))
    with_j = rs.ExpInf(k=1.0, j=10, dim=d, sigma=0.5)
    assert np.all(with_j.certify(p) > with_j.certify(p, "l1") / d)
    steep = rs.ExpInf(k=2.0, j=10, dim=d, sigma=0.5)  # k > 1, j > 0: the two-sided growth function
    assert np.all(steep.certify(p) >= steep.certify(p, "l1") / d)
    assert steep.certify(0.999) > 5 * steep.certify(0.999, "l1") / d
    assert {"powinf/l1", "powinf/linf", "expp/l1", "pow2/l2"} <= set(routes.supported_pairs())


def test_exp2_j_registered_radius():
    noise = rs.Exp2(k=1.5, j=2, dim=20, sigma=0.5)
    np.testing.assert_allclose(noise.certify(0.9), noise.lambd * tables.exp2_j_l2_levelset_radius(1.5, 2.0, 20, 0.9))
    assert rs.Exp2(k=2, j=0, dim=20, sigma=0.5).certify(0.9) == rs.Exp2(k=2, dim=20, sigma=0.5).certify(0.9)
    with pytest.raises(ValueError, match="needs j < d"):
        tables.exp2_j_l2_levelset_radius(1.0, 20.0, 20, 0.7)


def test_pow2_registered_radius():
    noise = rs.Pow2(k=2.0, a=13.0, dim=20, sigma=0.5)
    p = np.array([0.6, 0.9])
    np.testing.assert_allclose(noise.certify(p), noise.lambd * tables.pow2_l2_levelset_radius(2.0, 13.0, 20, p))
    assert noise.certify(p, "l1")[1] == pytest.approx(noise.certify(0.9))  # l2 -> l1 with C(l2, l1) = 1
    with pytest.raises(ValueError, match=r"needs a \* k > d"):
        tables.pow2_l2_levelset_radius(2.0, 5.0, 10, 0.7)


def test_the_spec_parameters_choose_the_certificate():
    # ExpInf: j = 0 uses the closed forms (k = 1) or the persisted table; j > 0 its own l1 form
    names = {entry.radius.__name__ for entry in registry.certificates(rs.ExpInf(dim=8, k=1.0, sigma=1.0), "linf")}
    assert names == {"expinf_linf_k1"}
    names = {entry.radius.__name__ for entry in registry.certificates(rs.ExpInf(dim=8, k=0.5, sigma=1.0), "linf")}
    assert names == {"expinf_linf_table"}
    names = {entry.radius.__name__ for entry in registry.certificates(rs.ExpInf(dim=8, k=2.0, j=1, sigma=1.0), "l1")}
    assert names == {"expinf_j_l1"}
    # Exp2 with k not in {1, 2}: the level set, the linear bound and the differential table, their max taken
    names = {entry.radius.__name__ for entry in registry.certificates(rs.Exp2(dim=8, k=3.0, sigma=1.0), "l2")}
    assert names == {"exp2_l2_levelset_table", "exp2_l2_linear", "exp2_l2_differential_table"}
    assert registry.certificates(rs.Gaussian(sigma=1.0), "l0") == []


def test_total_variation_certificates_are_marked():
    marked = {(entry.family, entry.adversary) for family in registry.families()
              for adversary in registry.direct_adversaries(family)
              for entry in registry._SINGLE[family][adversary] if entry.total_variation}
    assert marked == {("uniform", "l1"), ("uniform", "linf"), ("uniformball", "l2"), ("masking", "l0")}


def test_best_radius_skips_certificates_that_do_not_apply():
    p = np.array([0.6, 0.9])
    noise = rs.Gaussian(sigma=1.0)
    found = [registry.Certificate("gaussian", "l2", lambda noise, p, d: None, False),
             registry.Certificate("gaussian", "l2", lambda noise, p, d: p - 0.5, False),
             registry.Certificate("gaussian", "l2", lambda noise, p, d: np.full_like(p, 0.2), False)]
    np.testing.assert_array_equal(registry.best_radius(found, noise, p, None), [0.2, 0.4])
    np.testing.assert_array_equal(registry.best_radius(found[:1], noise, p, None), [0.0, 0.0])
