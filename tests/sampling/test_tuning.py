"""fast=True / --fast: the tuner's choice is its fastest measurement (a fake clock makes the timings known),
it never offers an autocast dtype the hardware lacks (the capability probe patched), its choices are cached
for the process and on disk, and ``fast=True`` certifies as the chosen options given explicitly do."""

import json

import numpy as np
import pytest
import torch

import rsmooth_ext as rs
from rsmooth_ext.sampling import tuning


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path / "cache"))
    tuning.clear_process_cache()
    yield
    tuning.clear_process_cache()


def tiny_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 16, 3)).eval()


class FakeClock:
    """A clock whose every reading advances by a random amount: each measured batch takes the increment of
    the reading that ends it, recorded in ``durations`` (in measurement order)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.now, self.readings = 0.0, 0
        self.durations = []

    def __call__(self):
        step = float(self.rng.uniform(1e-3, 1e-2))
        self.now += step
        self.readings += 1
        if self.readings % 2 == 0:
            self.durations.append(step)
        return self.now


def probe(bf16, fp16):
    return lambda name: {"bf16": bf16, "fp16": fp16}[name]


@pytest.mark.parametrize("seed", range(6))
def test_the_choice_is_the_fastest_measurement(seed, monkeypatch):
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(True, True))
    clock, repeats = FakeClock(seed), 3
    x = torch.rand(2, 2, 4, 4)
    choice = tuning.tune(tiny_cnn(), x, rs.Gaussian(sigma=0.5), batch_size=16, repeats=repeats, compile_top=0,
                         timer=clock, use_cache=False)
    names = [c.name for c in tuning.eager_candidates(x)]
    assert names == ["eager", "channels_last", "bf16", "bf16+channels_last", "fp16", "fp16+channels_last"]
    assert list(choice.seconds) == names
    expected = {name: float(np.median(clock.durations[i * repeats : (i + 1) * repeats])) for i, name in
                enumerate(names)}
    assert choice.seconds == pytest.approx(expected, rel=1e-12)
    assert choice.candidate.name == min(expected, key=expected.get)
    assert all(choice.seconds[choice.candidate.name] <= s for s in choice.seconds.values())
    assert choice.candidate.name in choice.summary() and "eager" in choice.summary()


def test_a_slow_candidate_is_never_chosen(monkeypatch):
    """Eager measured fastest: the choice is eager, whatever the other candidates are."""
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(True, False))
    costs = {"eager": 1.0, "channels_last": 2.0, "bf16": 3.0, "bf16+channels_last": 1.5}
    measured = []

    def fake_measure(model, x1, noise, candidate, **kwargs):
        measured.append(candidate.name)
        return costs[candidate.name]

    monkeypatch.setattr(tuning, "measure_candidate", fake_measure)
    choice = tuning.tune(tiny_cnn(), torch.rand(1, 2, 4, 4), rs.Gaussian(sigma=0.5), batch_size=8, compile_top=0)
    assert measured == list(costs) and choice.candidate == tuning.Candidate()
    assert choice.candidate.options() == {"channels_last": False, "autocast": None, "compile": False}


def test_compiled_candidates_are_the_fastest_eager_ones_compiled(monkeypatch):
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(False, False))
    costs = {"eager": 3.0, "channels_last": 2.0, "compile+channels_last": 1.0, "compile": 4.0}
    monkeypatch.setattr(tuning, "measure_candidate", lambda m, x1, n, c, **k: costs[c.name])
    choice = tuning.tune(tiny_cnn(), torch.rand(1, 2, 4, 4), rs.Gaussian(sigma=0.5), batch_size=8, compile_top=1)
    assert list(choice.seconds) == ["eager", "channels_last", "compile+channels_last"]
    assert choice.candidate == tuning.Candidate(channels_last=True, compile=True)


@pytest.mark.parametrize("bf16, fp16, offered", [(False, False, [None]), (True, False, [None, torch.bfloat16]),
                                                 (False, True, [None, torch.float16])])
def test_only_native_autocast_dtypes_are_offered(bf16, fp16, offered, monkeypatch):
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(bf16, fp16))
    assert tuning.native_autocast_dtypes(torch.device("cpu")) == offered[1:]
    x = torch.rand(1, 2, 4, 4)
    dtypes = {c.autocast for c in tuning.eager_candidates(x)}
    assert dtypes == set(offered)
    choice = tuning.tune(tiny_cnn(), x, rs.Gaussian(sigma=0.5), batch_size=8, repeats=1, compile_top=0)
    assert {tuning.Candidate.from_name(n).autocast for n in choice.seconds} == set(offered)


def test_without_native_bf16_fast_certifies_in_float32(monkeypatch):
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(False, False))
    model, x = tiny_cnn(), torch.rand(2, 2, 4, 4)
    sampler_options = tuning.fast_options(model, x, rs.Gaussian(sigma=0.5), batch_size=8)[0]
    assert sampler_options["autocast"] is None


def test_flat_inputs_get_no_channels_last_and_fixed_options_stay(monkeypatch):
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(True, False))
    assert [c.name for c in tuning.eager_candidates(torch.rand(1, 12))] == ["eager", "bf16"]
    assert [c.name for c in tuning.eager_candidates(torch.rand(1, 1, 4, 4))] == ["eager", "bf16"]  # one channel
    fixed = tuning.eager_candidates(torch.rand(1, 2, 4, 4), channels_last=True, autocast=None)
    assert [c.name for c in fixed] == ["channels_last"]


def test_choices_are_cached_in_process_and_on_disk(monkeypatch):
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(False, False))
    calls = []
    monkeypatch.setattr(tuning, "measure_candidate", lambda m, x1, n, c, **k: calls.append(c.name) or len(calls))
    model, x, noise = tiny_cnn(), torch.rand(1, 2, 4, 4), rs.Gaussian(sigma=0.5)
    first = tuning.tune(model, x, noise, batch_size=8, compile_top=0)
    assert first.cached is None and first.candidate.name == "eager" and calls == ["eager", "channels_last"]
    assert tuning.tune(model, x, noise, batch_size=8, compile_top=0).cached == "process"
    tuning.clear_process_cache()
    again = tuning.tune(model, x, noise, batch_size=8, compile_top=0)
    assert again.cached == "disk" and again.candidate == first.candidate and again.seconds == first.seconds
    assert len(calls) == 2
    entries = tuning.cached_choices()
    assert len(entries) == 1 and entries[0]["choice"] == "eager"
    key = entries[0]["key"]
    assert key["torch"] == torch.__version__ and key["input_shape"] == [2, 4, 4] and key["batch_size"] == 8
    assert key["hardware"] == tuning.device_name(torch.device("cpu"))
    tuning.tune(model, torch.rand(1, 2, 4, 4), noise, batch_size=16, compile_top=0)  # another key: measured
    assert len(calls) == 4 and len(tuning.cached_choices()) == 2
    on_disk = json.loads(open(tuning.cache_path()).read())
    assert len(on_disk) == 2


def test_fast_certify_is_certify_with_the_chosen_options():
    model, x, noise = tiny_cnn(), torch.rand(3, 2, 4, 4), rs.Gaussian(sigma=0.5)
    fast = rs.certify(model, x, noise, 20, 200, 0.001, batch_size=64, seed=4, fast=True)
    choice = tuning.tune(model, x, noise, batch_size=64)
    assert choice.cached == "process"
    options = choice.candidate.options()
    explicit = rs.certify(model, x, noise, 20, 200, 0.001, batch_size=64, seed=4, **options)
    assert torch.equal(fast.counts_estimation, explicit.counts_estimation)
    assert torch.equal(fast.counts_selection, explicit.counts_selection)


def test_bad_input():
    model, x, noise = tiny_cnn(), torch.rand(1, 2, 4, 4), rs.Gaussian(sigma=0.5)
    with pytest.raises(TypeError, match="fast must be a bool"):
        rs.certify(model, x, noise, 10, 10, 0.01, fast=1)
    with pytest.raises(ValueError, match="repeats must be an int >= 1"):
        tuning.tune(model, x, noise, repeats=0)
    with pytest.raises(ValueError, match="compile_top must be an int >= 0"):
        tuning.tune(model, x, noise, compile_top=-1)
    with pytest.raises(ValueError, match="channels_last needs image inputs"):
        tuning.tune(model, torch.rand(1, 16), noise, channels_last=True)
    with pytest.raises(ValueError, match="unknown forward-pass configuration"):
        tuning.Candidate.from_name("eager+turbo")
    for candidate in tuning.eager_candidates(x):
        assert tuning.Candidate.from_name(candidate.name) == candidate


@pytest.mark.integration
def test_compiled_candidates_are_measured_for_real(monkeypatch):
    monkeypatch.setattr(tuning, "_mkldnn_supported", probe(False, False))
    choice = tuning.tune(tiny_cnn(), torch.rand(1, 2, 4, 4), rs.Gaussian(sigma=0.5), batch_size=32, repeats=2,
                         compile_top=1)
    assert len(choice.seconds) == 3 and sum(name.startswith("compile") for name in choice.seconds) == 1
    assert choice.seconds[choice.candidate.name] == min(choice.seconds.values())
