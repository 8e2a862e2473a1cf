"""certify_sequential: the look schedule, the stopping rule's soundness at the stopping time (simulated vote
streams whose p_A is known, including p_A exactly at a grid threshold), and the sampling loop end to end."""

import numpy as np
import pytest
import torch
from scipy import stats
from support import FALSE_ALARM, requires_cuda
from test_smooth import Linear2

import rsmooth_ext as rs
from rsmooth_ext.seeding import Phase
from rsmooth_ext.sequential import (
    LookSchedule,
    StoppingRule,
    look_schedule,
    run_stopping_rule,
    simulate_successes,
)
from rsmooth_ext.stats import clopper_pearson_lower, clopper_pearson_upper

GRID = [0.0, 0.25, 0.5, 0.75, 1.0]


def gaussian_radius(p):
    """Cohen's l2 radius at sigma = 1 (the closed form; p in (1/2, 1))."""
    return stats.norm.ppf(p)


def allowed_violations(trials: int, alpha: float) -> int:
    """The most violations a procedure with failure probability <= alpha shows, but for FALSE_ALARM."""
    return int(stats.binom.ppf(1 - FALSE_ALARM, trials, alpha))


# ---- schedule ------------------------------------------------------------------------------------------------


def test_look_schedule_spends_exactly_alpha_and_ends_at_n_max():
    s = look_schedule(100_000, 0.001, first_look=1000, growth=2.0, final_share=0.5)
    assert s.sizes == (1000, 2000, 4000, 8000, 16000, 32000, 64000, 100_000)
    assert look_schedule(10_000, 0.001).sizes == (1000, 1500, 2250, 3375, 5063, 7595, 10_000)
    assert s.alphas[-1] == pytest.approx(0.0005) and len(set(s.alphas[:-1])) == 1
    assert s.alpha == pytest.approx(0.001, rel=1e-12) and s.alpha <= 0.001 * (1 + 1e-15)
    assert look_schedule(500, 0.01, first_look=1000) == LookSchedule((500,), (0.01,))
    assert look_schedule(10, 0.1, first_look=3, growth=1.1).sizes == (3, 4, 5, 6, 7, 8, 9, 10)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_max=0), "n_max must be >= 1, got 0"),
    (dict(growth=1.0), "growth must be a number > 1, got 1.0"),
    (dict(final_share=0.0), r"final_share must be a number in \(0, 1\], got 0.0"),
    (dict(first_look=0), "first_look must be >= 1, got 0"),
    (dict(alpha=1.0), r"alpha must be a number in \(0, 1\), got 1.0"),
])
def test_look_schedule_bad_input(kwargs, match):
    args = dict(n_max=100, alpha=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        look_schedule(args.pop("n_max"), args.pop("alpha"), **args)


# ---- the stopping rule on known cases --------------------------------------------------------------------------


def test_single_look_is_cohens_clopper_pearson():
    schedule = look_schedule(400, 0.01, first_look=1000)
    rule = StoppingRule(schedule, gaussian_radius)
    k = np.array([0, 150, 200, 260, 399, 400])
    d = rule.decide(0, k)
    assert d.stop.all()
    np.testing.assert_array_equal(d.p_lower, clopper_pearson_lower(k, 400, 0.01))
    expected = np.where(d.p_lower > 0.5, gaussian_radius(np.clip(d.p_lower, 0.5, 1)), 0.0)
    np.testing.assert_allclose(d.radius, expected, rtol=1e-15)


def test_grid_decisions():
    schedule = look_schedule(100_000, 0.001, first_look=1000, growth=2.0)
    rule = StoppingRule(schedule, gaussian_radius, radii=GRID)
    # look 0 (n = 1000): unanimous votes certify the whole grid at sigma = 1; 700 votes certify 0.25 and
    # leave 0.5 open (undecided); 500 leave even the abstention open; none abstain at once
    d = rule.decide(0, np.array([1000, 700, 500, 0]))
    assert d.grid_index.tolist() == [4, 1, -1, -1] and d.stop.tolist() == [True, False, False, True]
    assert d.radius.tolist() == [1.0, 0.25, 0.0, 0.0]
    # an input with every vote at the last look but one is decided: nothing more can be certified at n_max
    tiny = StoppingRule(look_schedule(2000, 0.001, first_look=1000), lambda p: 0.001 * gaussian_radius(p), radii=GRID)
    d = tiny.decide(0, np.array([1000]))
    assert d.stop[0] and d.grid_index[0] == 0  # radius 0 certified, 0.25 out of reach
    # the upper bound refutes the next radius
    d = rule.decide(3, np.array([4400]))  # of 8000: 1/2 < p_lower, radius(p_upper) < 0.25
    assert d.stop[0] and d.grid_index[0] == 0 and 0.5 < d.p_lower[0]
    assert d.p_upper[0] == clopper_pearson_upper(4400, 8000, schedule.alphas[3]) < stats.norm.cdf(0.25)


def test_rtol_mode_stops_when_the_radius_is_pinned_down():
    schedule = look_schedule(100_000, 0.001, first_look=1000, growth=2.0)
    rule = StoppingRule(schedule, gaussian_radius, rtol=0.2)
    d = rule.decide(6, np.array([int(0.9 * 64000), 64000]))
    r_lo, r_hi = gaussian_radius(d.p_lower[0]), gaussian_radius(d.p_upper[0])
    assert d.stop[0] == (r_lo >= 0.8 * r_hi) and d.stop[0]
    assert not d.stop[1]  # unanimous: the upper radius is infinite
    assert d.radius[0] == pytest.approx(r_lo)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(radii=[0.0, 0.5, 0.25]), ValueError, "strictly increasing"),
    (dict(radii=[-0.1, 0.5]), ValueError, ">= 0"),
    (dict(radii=[0.0, float("nan")]), ValueError, "finite"),
    (dict(radii=[]), ValueError, "non-empty"),
    (dict(radii=["a"]), TypeError, "radii must be a sequence of numbers"),
    (dict(rtol=0.0), ValueError, r"rtol must be a number in \(0, 1\), got 0.0"),
    (dict(futility=1.0), ValueError, r"futility must be a number in \(0, 1\), got 1.0"),
])
def test_stopping_rule_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        StoppingRule(look_schedule(100, 0.1), gaussian_radius, **kwargs)


# ---- soundness at the stopping time, by simulation --------------------------------------------------------------

ALPHA, TRIALS = 0.05, 20_000
SIM_SCHEDULE = dict(first_look=100, growth=2.0, final_share=0.5)  # looks 100, 200, ..., 3200, 4000


@pytest.mark.parametrize("p_a,true_radius", [
    (stats.norm.cdf(0.5), 0.5),  # exactly at the grid threshold of 0.5
    (np.nextafter(stats.norm.cdf(0.75), 0), 0.75 - 1e-9),  # just below the threshold of 0.75
    (0.5, 0.0),  # on the decision boundary: any certificate is a violation
    (0.99, stats.norm.ppf(0.99)),
], ids=["at-threshold", "below-threshold", "boundary", "far"])
@pytest.mark.parametrize("futility", [None, 0.3])
def test_grid_rule_is_sound_at_the_stopping_time(p_a, true_radius, futility):
    schedule = look_schedule(4000, ALPHA, **SIM_SCHEDULE)
    rule = StoppingRule(schedule, gaussian_radius, radii=GRID, futility=futility)
    rng = np.random.default_rng(12345)
    outcome = run_stopping_rule(rule, simulate_successes(np.full(TRIALS, p_a), schedule, rng))
    bound_violations = int((outcome.p_lower > p_a).sum())
    radius_violations = int((outcome.certified & ((outcome.radius > true_radius) | (p_a <= 0.5))).sum())
    assert bound_violations <= allowed_violations(TRIALS, ALPHA)
    assert radius_violations <= bound_violations  # a grid radius above the truth needs a bound above p_A
    assert outcome.done.all() and (outcome.num_samples <= 4000).all()


def test_rtol_rule_is_sound_at_the_stopping_time():
    schedule = look_schedule(4000, ALPHA, **SIM_SCHEDULE)
    rule = StoppingRule(schedule, gaussian_radius, rtol=0.3)
    p_a = 0.8
    outcome = run_stopping_rule(rule, simulate_successes(np.full(TRIALS, p_a), schedule, np.random.default_rng(7)))
    assert int((outcome.p_lower > p_a).sum()) <= allowed_violations(TRIALS, ALPHA)
    assert (outcome.num_samples < 4000).mean() > 0.5  # it does stop early


def test_the_simulation_detects_an_unsound_rule():
    """Clopper-Pearson at the full alpha at every look (no split) is unsound at the stopping time; the check
    above would reject it, so it can fail."""
    sound = look_schedule(4000, ALPHA, **SIM_SCHEDULE)
    naive = LookSchedule(sound.sizes, (ALPHA,) * len(sound.sizes))
    p_a = stats.norm.cdf(0.5)
    violations = {}
    for name, schedule in (("sound", sound), ("naive", naive)):
        outcome = run_stopping_rule(StoppingRule(schedule, gaussian_radius, radii=GRID),
                                    simulate_successes(np.full(TRIALS, p_a), schedule, np.random.default_rng(3)))
        violations[name] = int((outcome.p_lower > p_a).sum())
    assert violations["naive"] > allowed_violations(TRIALS, ALPHA) >= violations["sound"]


# ---- the sampling loop ---------------------------------------------------------------------------------------------


class Recording(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.batches = model, []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return self.model(x)


def spread_inputs(count=12):
    x = torch.zeros(count, 3)
    x[:, 0] = torch.linspace(-0.3, 1.5, count)
    return x


def test_full_batches_exact_look_counts_and_early_stops():
    model = Recording(Linear2([1.0, 0.0, 0.0]))
    x, noise = spread_inputs(), rs.Gaussian(sigma=0.5)
    res = rs.certify_sequential(model, x, noise, 0.01, n_max=20_000, radii=GRID, n0=30, batch_size=700,
                                seed=5, first_look=200)
    assert isinstance(res, rs.SequentialCertifyResult) and isinstance(res, rs.CertifyResult)
    assert all(b == 700 for b in model.batches[:-1]) and 0 < model.batches[-1] <= 700
    assert sum(model.batches) == res.forward_passes
    # each input's counts are exactly those of its first num_samples estimation samples
    assert torch.equal(res.counts_estimation.sum(1), res.num_samples)
    assert set(res.num_samples.tolist()) <= set(res.schedule.sizes)
    assert res.num_samples.min() < 20_000  # inputs leave early ...
    assert res.forward_passes < len(x) * (30 + 20_000) / 2  # ... and the passes show it
    radius = res.radius.numpy()
    assert set(radius.tolist()) <= set(GRID) and res.grid_index.max() >= 2
    top = res.counts_selection.argmax(1)
    n_top = res.counts_estimation[torch.arange(len(x)), top].numpy()
    lower = np.array([clopper_pearson_lower(k, n, res.schedule.alphas[res.schedule.sizes.index(n)])
                      for k, n in zip(n_top, res.num_samples.tolist())])
    np.testing.assert_array_equal(res.p_lower.numpy(), lower)


def test_independent_of_batch_size_order_and_equal_to_certify_selection():
    model = Linear2([1.0, 0.0, 0.0])
    x, noise = spread_inputs(9), rs.Laplace(sigma=0.5)
    kwargs = dict(n_max=5000, radii=[0.0, 0.2, 0.4], n0=40, seed=3, first_look=100)
    ref = rs.certify_sequential(model, x, noise, 0.01, batch_size=1000, **kwargs)
    cohen = rs.certify(model, x, noise, 40, 100, 0.01, seed=3)
    assert torch.equal(ref.counts_selection, cohen.counts_selection)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    for bs, order in ((1, None), (37, perm), (4096, perm)):
        ids = None if order is None else order
        xs = x if order is None else x[order]
        r = rs.certify_sequential(model, xs, noise, 0.01, batch_size=bs, input_ids=ids, **kwargs)
        index = slice(None) if order is None else order
        for name in ("prediction", "radius", "p_lower", "num_samples", "counts_estimation"):
            assert torch.equal(getattr(r, name), getattr(ref, name)[index]), (bs, name)


def test_one_host_sync_per_round(monkeypatch):
    syncs = []
    for name in ("cpu", "item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            syncs.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    res = rs.certify_sequential(Linear2([1.0, 0.0, 0.0]), spread_inputs(), rs.Gaussian(sigma=0.5), 0.01,
                                n_max=20_000, radii=GRID, n0=30, batch_size=512, seed=5, first_look=200)
    monkeypatch.undo()
    rounds = res.schedule.sizes.index(int(res.num_samples.max())) + 1
    assert len(syncs) == 1 + rounds  # the selection, then one per round


def test_end_to_end_soundness_with_the_true_radius_on_the_grid():
    """A linear rule under Gaussian noise: p_A = Phi(x_1 / sigma), the true radius x_1 = 0.25 is a grid point."""
    trials, alpha, sigma = 200, 0.1, 0.5
    x = torch.zeros(trials, 3)
    x[:, 0] = 0.25
    res = rs.certify_sequential(Linear2([1.0, 0.0, 0.0]), x, rs.Gaussian(sigma=sigma), alpha, n_max=3000,
                                radii=[0.0, 0.25, 0.5], n0=20, seed=77, first_look=100)
    p_a = stats.norm.cdf(0.25 / sigma)
    assert int((res.p_lower > p_a).sum()) <= allowed_violations(trials, alpha)
    assert int((res.radius > 0.25).sum()) <= allowed_violations(trials, alpha)
    assert (res.radius == 0.25).float().mean() < 0.5 and (res.prediction == 1).float().mean() > 0.5
    # 0.25 is neither certified (that needs p_lower >= p_A) nor refuted: such inputs run to n_max
    assert (res.num_samples == 3000).float().mean() > 0.5


def test_labels_skip_misclassified_inputs():
    model = Linear2([1.0, 0.0, 0.0])
    x = spread_inputs(6)
    labels = torch.ones(6, dtype=torch.int64)  # the first inputs (x_1 < 0) select class 0
    res = rs.certify_sequential(model, x, rs.Gaussian(sigma=0.5), 0.01, n_max=2000, radii=GRID, n0=50,
                                seed=1, first_look=100, labels=labels)
    full = rs.certify_sequential(model, x, rs.Gaussian(sigma=0.5), 0.01, n_max=2000, radii=GRID, n0=50,
                                 seed=1, first_look=100)
    skipped = res.counts_selection.argmax(1) != labels
    assert skipped.any() and torch.equal(res.skipped, skipped)
    assert (res.num_samples[skipped] == 0).all() and res.radius[skipped].isnan().all()
    assert torch.equal(res.radius[~skipped], full.radius[~skipped])


def test_selection_phase_is_certifys():
    assert Phase.SEQUENTIAL not in (0, 1, 2, 3, 4, 5) and Phase.SELECTION == 1


@pytest.mark.parametrize("override,exc,match", [
    (dict(n_max=0), ValueError, "n_max must be >= 1, got 0"),
    (dict(n0=0), ValueError, "n0 must be >= 1, got 0"),
    (dict(alpha=0.0), ValueError, r"alpha must be a number in \(0, 1\)"),
    (dict(radii=[1.0, 0.5]), ValueError, "strictly increasing"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    (dict(labels=torch.tensor([0, 5, 1])), ValueError, r"labels must lie in \[0, 2\)"),
    (dict(adversary="l0"), ValueError, "no guaranteed certificate for Gaussian against l0"),
    (dict(noise="gaussian"), TypeError, "noise must be an rsmooth_ext noise spec"),
])
def test_certify_sequential_bad_input(override, exc, match):
    args = dict(model=Linear2([1.0, 2.0]), x=torch.randn(3, 2), noise=rs.Gaussian(sigma=0.5), alpha=0.1,
                n_max=100) | override
    with pytest.raises(exc, match=match):
        rs.certify_sequential(args.pop("model"), args.pop("x"), args.pop("noise"), args.pop("alpha"), **args)


def test_empty_batch():
    res = rs.certify_sequential(Linear2([1.0, 0.0]), torch.zeros(0, 2), rs.Gaussian(sigma=0.5), 0.01, n_max=100,
                                labels=torch.zeros(0, dtype=torch.int64))
    assert res.prediction.shape == (0,) and res.num_samples.shape == (0,) and res.forward_passes == 0


@requires_cuda
def test_cuda_matches_cpu():
    """Masking noise is bit-identical across devices and the rule x_1 * mask_1 > 0 has no rounding: the same
    answers, counts and full batches on both devices."""
    x = spread_inputs(10)
    kwargs = dict(n_max=3000, radii=[0.0, 2.0, 4.0, 5.0], n0=20, seed=8, first_look=100, batch_size=256)
    noise = rs.Masking(keep=0.1)  # p_A = 0.9 (x_1 > 0) or 1: l0 radius 4 or more, 5 hard to refute
    cpu = rs.certify_sequential(Linear2([1.0, 0.0, 0.0]), x, noise, 0.01, **kwargs)
    model = Recording(Linear2([1.0, 0.0, 0.0]).cuda())
    gpu = rs.certify_sequential(model, x.cuda(), noise, 0.01, **kwargs)
    for name in ("prediction", "radius", "num_samples", "counts_estimation", "counts_selection"):
        assert torch.equal(getattr(gpu, name).cpu(), getattr(cpu, name)), name
    assert all(b == 256 for b in model.batches[:-1])


# ---- composition with the forward-pass options and top-2 -----------------------------------------------------

SEQ_KWARGS = dict(n_max=6000, radii=GRID, n0=30, batch_size=256, seed=5, first_look=200)


class TinyCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                       torch.nn.Linear(64, 3))

    def forward(self, x):
        return self.net(x)


def test_channels_last_and_autocast_compose():
    """channels_last: the same rows in another layout, the same answers. autocast: the noisy batches in bf16 and
    the model under autocast (the same selection votes as certify's under the same autocast)."""
    model, x, noise = TinyCnn().eval(), torch.rand(5, 2, 4, 4), rs.Gaussian(sigma=0.5)
    ref = rs.certify_sequential(model, x, noise, 0.01, **SEQ_KWARGS)
    cl = rs.certify_sequential(model, x, noise, 0.01, channels_last=True, **SEQ_KWARGS)
    for name in ("prediction", "radius", "num_samples", "counts_estimation"):
        assert torch.equal(getattr(cl, name), getattr(ref, name)), name
    amp = rs.certify_sequential(model, x, noise, 0.01, autocast=torch.bfloat16, **SEQ_KWARGS)
    cohen = rs.certify(model, x, noise, 30, 10, 0.01, seed=5, batch_size=256, autocast=torch.bfloat16)
    assert torch.equal(amp.counts_selection, cohen.counts_selection)
    assert torch.equal(amp.counts_estimation.sum(1), amp.num_samples)


def test_fast_is_sequential_with_the_chosen_options(tmp_path, monkeypatch):
    from rsmooth_ext.sampling import tuning

    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path))
    tuning.clear_process_cache()
    costs = {"eager": 2.0, "channels_last": 1.0, "bf16": 3.0, "bf16+channels_last": 4.0, "fp16": 5.0,
             "fp16+channels_last": 6.0}
    monkeypatch.setattr(tuning, "measure_candidate", lambda m, x1, n, c, **k: costs.get(c.name, 9.0))
    model, x, noise = TinyCnn().eval(), torch.rand(4, 2, 4, 4), rs.Gaussian(sigma=0.5)
    fast = rs.certify_sequential(model, x, noise, 0.01, fast=True, **SEQ_KWARGS)
    explicit = rs.certify_sequential(model, x, noise, 0.01, channels_last=True, **SEQ_KWARGS)
    for name in ("prediction", "radius", "num_samples", "counts_estimation", "counts_selection"):
        assert torch.equal(getattr(fast, name), getattr(explicit, name)), name
    tuning.clear_process_cache()


@pytest.mark.parametrize("radii", [GRID, None])
def test_top2_answers_are_the_top2_bounds_at_the_stopping_look(radii):
    from rsmooth_ext.certificates.top2 import certify_top2
    from rsmooth_ext.stats import top2_bounds

    x, noise = spread_inputs(8), rs.Gaussian(sigma=0.5)
    x[3, 0] = 0.0  # p_A = p_B = 1/2: not certified (but with probability alpha)
    kwargs = dict(SEQ_KWARGS, radii=radii)
    res = rs.certify_sequential(Linear2([1.0, 0.0, 0.0]), x, noise, 0.01, top2=True, **kwargs)
    top = res.counts_selection.argmax(1).numpy()
    looks = [res.schedule.sizes.index(n) for n in res.num_samples.tolist()]
    alphas = np.array([res.schedule.alphas[k] for k in looks])
    counts = res.counts_estimation.numpy()
    expected = [top2_bounds(counts[i : i + 1], top[i : i + 1], alphas[i]) for i in range(len(x))]
    np.testing.assert_array_equal(res.p_lower.numpy(), [e[0][0] for e in expected])
    np.testing.assert_array_equal(res.p_upper_others.numpy(), [e[1][0] for e in expected])
    certified = res.p_lower.numpy() > res.p_upper_others.numpy()
    assert certified.any() and (~certified).any()
    assert torch.equal(res.prediction[torch.from_numpy(~certified)], torch.full((int((~certified).sum()),), -1))
    radius = certify_top2(noise, res.p_lower.numpy()[certified], res.p_upper_others.numpy()[certified], dim=3)
    if radii is not None:
        radius = np.array([max(r for r in radii if r <= value) for value in radius])
    np.testing.assert_allclose(res.radius.numpy()[certified], radius, rtol=0, atol=0)
    with pytest.raises(TypeError, match="top2 must be a bool"):
        rs.certify_sequential(Linear2([1.0, 0.0, 0.0]), x, noise, 0.01, top2=1, **kwargs)


@pytest.mark.integration
def test_compiled_sequential_is_one_graph_and_matches_eager():
    """An exact model (one nonzero weight: no rounding): compiled, the same answers, from one graph of the fixed
    batch shape (fullgraph: a recompile past dynamo's limit would fail, and a second call compiles nothing)."""
    model = Linear2([1.0, 0.0, 0.0])
    x, noise = spread_inputs(), rs.Gaussian(sigma=0.5)
    ref = rs.certify_sequential(model, x, noise, 0.01, **SEQ_KWARGS)
    torch._dynamo.utils.counters.clear()
    compiled = rs.certify_sequential(model, x, noise, 0.01, compile={"backend": "aot_eager"}, **SEQ_KWARGS)
    for name in ("prediction", "radius", "num_samples", "counts_estimation", "counts_selection"):
        assert torch.equal(getattr(compiled, name), getattr(ref, name)), name
    assert compiled.forward_passes == ref.forward_passes
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
    again = rs.certify_sequential(model, x[:5], noise, 0.01, compile={"backend": "aot_eager"}, **SEQ_KWARGS)
    assert torch.equal(again.radius, ref.radius[:5])
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
