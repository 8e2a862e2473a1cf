"""Routes (rsmooth_ext.certificates.routes): every family has guaranteed radii in every norm, conversions,
tensor in / tensor out, and argument errors."""


import numpy as np
import pytest
import torch

import rsmooth_ext as rs


def test_tensor_in_tensor_out_and_float_in_float_out():
    g = rs.Gaussian(sigma=1.0)
    t = torch.tensor([0.4, 0.9])
    out = g.certify(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out[0] == 0
    assert isinstance(g.certify(0.9), float)
    assert g.certify(0.5) == 0.0


def test_radius_errors():
    g = rs.Gaussian(sigma=1.0)
    with pytest.raises(ValueError, match="depends on the input size: pass dim="):
        g.certify(0.9, "linf")
    with pytest.raises(ValueError, match=r"p_lower must lie in \[0, 1\]"):
        g.certify(1.2)
    with pytest.raises(ValueError, match="no guaranteed certificate for Gaussian against l0; supported pairs: "
                                         "gaussian/l1, gaussian/l2, gaussian/linf, laplace/l1"):
        g.certify(0.9, "l0")
    with pytest.raises(ValueError, match="no guaranteed certificate for Masking against l2"):
        rs.Masking(keep=0.5).certify(0.9, "l2", dim=10)
    with pytest.raises(ValueError, match="does not match the noise's own dim=10"):
        rs.UniformBall(dim=10, sigma=1.0).certify(0.9, dim=11)
    with pytest.raises(ValueError, match="no guaranteed certificate for Exp2 against l0"):
        rs.Exp2(dim=10, sigma=1.0).certify(0.9, "l0")


def test_every_family_has_guaranteed_radii_for_l1_l2_linf():
    d = 30
    for noise in [rs.Gaussian(sigma=0.5), rs.Laplace(sigma=0.5), rs.Uniform(sigma=0.5), rs.Lomax(sigma=0.5),
                  rs.UniformBall(dim=d, sigma=0.5), rs.ExpInf(dim=d, sigma=0.5), rs.Exp1(dim=d, sigma=0.5),
                  rs.Exp2(dim=d, sigma=0.5)]:
        for adversary in ("l1", "l2", "linf"):
            r = noise.certify(np.array([0.4, 0.7, 0.99]), adversary, dim=d)
            assert r[0] == 0 and 0 < r[1] <= r[2] and np.isfinite(r).all(), (noise, adversary)
        # conversions never beat the direct certificate's norm inequality bound
        r2 = noise.certify(0.9, "l2", dim=d)
        assert noise.certify(0.9, "linf", dim=d) >= r2 / np.sqrt(d) - 1e-12


def _every_pair_spec(dim):
    """One spec per (family, parameter regime) of the registry, with every adversary it has a certificate for
    (the k = 1 radial forms and the j > 0 variants have certificates of their own)."""
    from support import all_noises

    from rsmooth_ext.certificates import registry, supported_pairs
    extra = [rs.ExpInf(k=1.0, dim=dim, lambd=1.0), rs.Exp1(k=1.0, dim=dim, lambd=1.0),
             rs.Exp2(k=1.0, dim=dim, lambd=1.0), rs.Exp2(k=2.0, dim=dim, lambd=1.0), rs.ExpInf(k=0.5, j=2, dim=dim,
                                                                                               lambd=1.0)]
    specs = all_noises(dim) + extra
    pairs = set(supported_pairs())
    covered = {f"{n.family}/{a}" for n in specs for a in registry.direct_adversaries(n.family)}
    assert {pair.split("/")[0] for pair in pairs} <= {pair.split("/")[0] for pair in covered}
    return [(n, a) for n in specs for a in ("l0", "l1", "l2", "linf") if f"{n.family}/{a}" in pairs]


def test_p_lower_one_is_inf_for_full_support_and_the_support_limited_radius_otherwise():
    """p_lower = 1 is inside the documented range [0, 1]: never an error (the audit found ValueErrors naming
    internal functions); inf where the noise has a positive density everywhere, else the finite limit."""
    from rsmooth_ext.certificates import registry
    dim = 10
    for noise, adversary in _every_pair_spec(dim):
        at_one = noise.certify(1.0, adversary, dim=dim)
        below = noise.certify(float(np.nextafter(1.0, 0.0)), adversary, dim=dim)
        if registry.full_support(noise):
            assert at_one == np.inf, (noise, adversary, at_one)
        else:
            assert np.isfinite(at_one) and at_one >= below, (noise, adversary, at_one, below)
        both = noise.certify(torch.tensor([0.9, 1.0]), adversary, dim=dim)
        assert both[1] == at_one and both[0] <= below
    assert registry.SUPPORT_LIMITED == {"uniform", "uniformball", "masking"}


def test_user_facing_errors_name_the_argument_not_an_internal_function():
    for noise, adversary in _every_pair_spec(10):
        for bad in (1.5, -0.1, float("nan")):
            with pytest.raises(ValueError) as info:
                noise.certify(bad, adversary, dim=10)
            assert str(info.value).startswith("p_lower must lie in [0, 1]"), str(info.value)
            assert "_radius" not in str(info.value)
