"""The smoothed classifier: argmax counting, sample_counts / predict / certify / predict_soft."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from support import DEVICES, FALSE_ALARM

import rsmooth_ext as rs
from rsmooth_ext.seeding import Phase


def count(logits, batch):
    counts = torch.zeros(batch, logits.shape[1], dtype=torch.int64, device=logits.device)
    invalid = torch.zeros(batch, dtype=torch.int64, device=logits.device)
    torch.ops.rsmooth_ext.argmax_count_.default(counts, invalid, logits)
    return counts, invalid


# ---- argmax_count_ ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("num_classes", [1, 3, 10, 1000])
def test_counts_equal_bincount_of_argmax_with_ties(device, dtype, num_classes):
    g = torch.Generator().manual_seed(num_classes)
    logits = torch.randint(0, 4, (60, num_classes), generator=g).to(dtype)  # many ties
    logits = logits.to(device)
    counts, invalid = count(logits, 3)
    expected = torch.stack([torch.bincount(logits[20 * i : 20 * (i + 1)].cpu().float().argmax(1),
                                           minlength=num_classes) for i in range(3)])
    assert torch.equal(counts.cpu(), expected)
    assert invalid.sum() == 0


@pytest.mark.parametrize("device", DEVICES)
def test_counts_accumulate_and_skip_non_finite_rows(device):
    logits = torch.randn(8, 4, device=device)
    logits[1, 2] = float("nan")
    logits[5, 0] = float("inf")
    logits[6, 3] = float("-inf")
    counts, invalid = count(logits, 2)
    assert invalid.tolist() == [1, 2]
    assert counts.sum().item() == 5
    count_again = counts.clone()
    torch.ops.rsmooth_ext.argmax_count_.default(count_again, invalid, logits)
    assert torch.equal(count_again, 2 * counts)
    strided = torch.randn(6, 8, device=device)[:, ::2]
    assert torch.equal(count(strided, 2)[0], count(strided.contiguous(), 2)[0])


def test_count_op_errors():
    op = torch.ops.rsmooth_ext.argmax_count_.default
    c, inv = torch.zeros(2, 4, dtype=torch.int64), torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match="not a multiple of B = 2"):
        op(c, inv, torch.randn(5, 4))
    with pytest.raises(ValueError, match="num_classes = 3"):
        op(c, inv, torch.randn(4, 3))
    with pytest.raises(TypeError, match="logits must be float32, float16, bfloat16 or float64, got Int"):
        op(c, inv, torch.ones(4, 4, dtype=torch.int32))
    torch.library.opcheck(op, (c, inv, torch.randn(4, 4)))


# ---- models with known smoothed probabilities -----------------------------------------------------


class Linear2(torch.nn.Module):
    """Two classes, logits (0, w.x + b): class 1 iff w.x + b > 0."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float32).flatten(), requires_grad=False)
        self.b = b

    def forward(self, x):
        z = x.flatten(1).float() @ self.w + self.b
        return torch.stack([torch.zeros_like(z), z], dim=1)


def test_sample_counts_shape_and_determinism():
    model = Linear2([1.0, -1.0, 0.5])
    x = torch.randn(5, 3)
    noise = rs.Gaussian(sigma=1.0)
    a = rs.sample_counts(model, x, noise, 300, seed=3)
    assert a.shape == (5, 2) and a.dtype == torch.int64 and (a.sum(1) == 300).all()
    for bs in (1, 7, 1000):
        assert torch.equal(rs.sample_counts(model, x, noise, 300, seed=3, batch_size=bs), a)
    perm = torch.tensor([4, 2, 0, 1, 3])
    assert torch.equal(rs.sample_counts(model, x[perm], noise, 300, seed=3, input_ids=perm), a[perm])


def test_certify_and_predict_match_cohen_on_the_same_counts():
    """A direct re-implementation of Cohen et al.'s algorithm, fed the very same votes."""
    model = Linear2(torch.tensor([0.8, -0.3, 0.1, 0.4]))
    x = torch.randn(12, 4) * 0.7
    noise, n0, n, alpha = rs.Gaussian(sigma=0.5), 50, 400, 0.01
    res = rs.certify(model, x, noise, n0, n, alpha, seed=11, batch_size=64)
    sampler = rs.sampling.sampler.Sampler(model, x, noise, n0, batch_size=64, seed=11, input_ids=None, num_classes=None,
                                 out_dtype=None, channels_last=False)
    sel = sampler.counts(Phase.SELECTION, n0)[0].numpy()
    est = sampler.counts(Phase.ESTIMATION, n)[0].numpy()
    assert np.array_equal(res.counts_selection.numpy(), sel) and np.array_equal(res.counts_estimation.numpy(), est)
    for i in range(len(x)):
        c_a = int(np.argmax(sel[i]))
        n_a = int(est[i, c_a])
        p_a = stats.beta.ppf(alpha, n_a, n - n_a + 1) if n_a > 0 else 0.0
        if p_a < 0.5 or p_a == 0.5:
            assert res.prediction[i] == rs.ABSTAIN and res.radius[i] == 0
        else:
            assert res.prediction[i] == c_a
            assert res.radius[i].item() == pytest.approx(0.5 * stats.norm.ppf(p_a), rel=1e-12)
        assert res.p_lower[i].item() == pytest.approx(p_a, rel=1e-12, abs=0)
    pred = rs.predict(model, x, noise, n, alpha, seed=11)
    counts = rs.sample_counts(model, x, noise, n, seed=11).numpy()
    for i in range(len(x)):
        top2 = np.argsort(-counts[i], kind="stable")[:2]
        p = stats.binomtest(int(counts[i, top2[0]]), int(counts[i, top2].sum()), 0.5).pvalue
        assert pred[i] == (top2[0] if p <= alpha else rs.ABSTAIN)


def _true_radius_and_model(family, offset):
    """1-d decision rule class 1 iff x_1 > 0 under i.i.d. noise: g = f and the true radius is |x_1|
    in every norm, while the smoothed probability is the noise's CDF at x_1."""
    return offset, Linear2([1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "noise,adversary",
    [(rs.Gaussian(sigma=0.5), "l2"), (rs.Laplace(lambd=0.5), "l1"), (rs.Uniform(lambd=1.0), "l1")],
    ids=["gaussian", "laplace", "uniform"],
)
def test_certified_radius_is_sound(noise, adversary):
    """The certified radius exceeds the true one in at most an alpha fraction of independent runs."""
    alpha, trials, n = 0.1, 150, 200
    model = Linear2([1.0, 0.0, 0.0])
    x = torch.zeros(trials, 3)
    x[:, 0] = 0.3  # true radius 0.3 (l1 = l2 = distance to the hyperplane x_1 = 0)
    res = rs.certify(model, x, noise, 20, n, alpha, adversary=adversary, seed=2024)
    # trials are independent: each input has its own input id, so its own noise
    exceed = int((res.radius > 0.3 + 1e-12).sum())
    assert exceed <= stats.binom.ppf(1 - FALSE_ALARM, trials, alpha), f"{exceed} of {trials} radii exceed the truth"
    # and the certificate is not vacuous: most inputs are certified with a radius near the truth
    assert (res.prediction == 1).float().mean() > 0.5


def test_abstains_on_the_decision_boundary():
    model = Linear2([1.0, 0.0])
    x = torch.zeros(50, 2)  # smoothed probability exactly 1/2
    res = rs.certify(model, x, rs.Gaussian(sigma=1.0), 20, 500, 0.001, seed=5)
    assert (res.prediction == rs.ABSTAIN).float().mean() > 0.95
    assert (res.radius[res.prediction == rs.ABSTAIN] == 0).all()
    assert (rs.predict(model, x, rs.Gaussian(sigma=1.0), 500, 0.001, seed=5) == rs.ABSTAIN).float().mean() > 0.95


def test_certify_invariant_to_batch_size_and_order():
    model = Linear2([0.5, 1.0])
    x = torch.randn(9, 2)
    ref = rs.certify(model, x, rs.Laplace(sigma=0.5), 30, 200, 0.05, seed=9)
    for bs in (1, 7, 1000):
        r = rs.certify(model, x, rs.Laplace(sigma=0.5), 30, 200, 0.05, seed=9, batch_size=bs)
        assert torch.equal(r.prediction, ref.prediction) and torch.equal(r.radius, ref.radius)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    r = rs.certify(model, x[perm], rs.Laplace(sigma=0.5), 30, 200, 0.05, seed=9, input_ids=perm)
    assert torch.equal(r.radius, ref.radius[perm])
    assert ref.seed == 9 and ref.n0 == 30 and ref.n == 200 and ref.adversary == "l1"


def test_selection_and_estimation_are_independent_streams():
    model = Linear2([1.0])
    x = torch.zeros(1, 1)
    res = rs.certify(model, x, rs.Gaussian(sigma=1.0), 500, 500, 0.1, seed=1)
    assert not torch.equal(res.counts_selection, res.counts_estimation)


def test_predict_soft_is_the_mean_softmax():
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[1.0, 2.0, 0.5]]).expand(x.shape[0], 3)

    soft = rs.predict_soft(Constant(), torch.randn(4, 6), rs.Gaussian(sigma=1.0), 50, seed=0, batch_size=8)
    assert torch.allclose(soft, torch.softmax(torch.tensor([1.0, 2.0, 0.5]), 0).expand(4, 3), atol=1e-6)
    # a linear rule: mean softmax of (0, z) with z = x_1 + eps, eps ~ N(0, 1) -> E[sigmoid(x_1 + eps)]
    model = Linear2([1.0, 0.0])
    soft = rs.predict_soft(model, torch.tensor([[0.7, 0.0]]), rs.Gaussian(sigma=1.0), 20000, seed=1)
    grid = np.linspace(-8, 8, 4001)
    expected = integrate.trapezoid(stats.norm.pdf(grid) / (1 + np.exp(-(0.7 + grid))), grid)
    assert soft[0, 1].item() == pytest.approx(expected, abs=4 * 0.25 / math.sqrt(20000))


def test_model_mode_is_restored_and_invalid_samples_are_reported():
    model = Linear2([1.0, 0.0]).train()
    rs.sample_counts(model, torch.randn(2, 2), rs.Gaussian(sigma=1.0), 10, seed=0)
    assert model.training

    class Nan(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], 2)
            out[::3, 1] = float("nan")
            return out

    with pytest.raises(FloatingPointError, match=r"4 noisy sample\(s\) gave NaN or infinite logits"):
        rs.sample_counts(Nan(), torch.randn(1, 2), rs.Gaussian(sigma=1.0), 10, seed=0)


BAD = [
    (dict(x=torch.randn(3)), ValueError, "x must be a batch"),
    (dict(n0=0), ValueError, "n0 must be >= 1, got 0"),
    (dict(n=0), ValueError, "n must be >= 1, got 0"),
    (dict(alpha=0.0), ValueError, r"alpha must be a number in \(0, 1\), got 0.0"),
    (dict(alpha=1.5), ValueError, r"alpha must be a number in \(0, 1\)"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    (dict(seed="7"), TypeError, "seed must be an int, a torch.Generator or None"),
    (dict(num_classes=5), ValueError, "the model returned 2 classes, but num_classes=5"),
    (dict(model=lambda x: x.sum(1)), ValueError, r"the model must return logits of shape \(rows, num_classes\)"),
    (dict(adversary="l0"), ValueError, "no guaranteed certificate for Laplace against l0; supported pairs"),
    (dict(adversary="l3"), ValueError, "adversary must be one of l0, l1, l2, linf"),
]


@pytest.mark.parametrize("override,exc,match", BAD)
def test_certify_bad_input(override, exc, match):
    args = dict(model=Linear2([1.0, 2.0]), x=torch.randn(3, 2), noise=rs.Laplace(sigma=0.5), n0=10, n=20, alpha=0.1)
    args.update(override)
    kwargs = {k: args.pop(k) for k in list(args) if k not in ("model", "x", "noise", "n0", "n", "alpha")}
    with pytest.raises(exc, match=match):
        rs.certify(args["model"], args["x"], args["noise"], args["n0"], args["n"], args["alpha"], **kwargs)


def test_device_mismatch_is_reported():
    model = Linear2([1.0, 2.0]).to(torch.float64)
    if not torch.cuda.is_available():
        model.w = torch.nn.Parameter(torch.zeros(2, device="meta"), requires_grad=False)
    with pytest.raises(ValueError, match="x is on cpu but the model's parameters are on"):
        rs.predict(model, torch.randn(2, 2), rs.Gaussian(sigma=1.0), 10, 0.1)
