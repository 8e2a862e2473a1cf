"""Cheaper forward passes: the ops' device-tensor arguments (rng_state, num_valid_rows), autocast, and the
compiled fixed-shape step (one graph with the ops inside, padding not counted, cached across calls; CUDA
graphs on a GPU). Compiles are few and small: each costs seconds (aot_eager) to tens of seconds (inductor)."""

import pytest
import torch
from support import DEVICES, all_noises, requires_cuda

import rsmooth_ext as rs
from rsmooth_ext.sampling import forward as fast_step
from rsmooth_ext.seeding import Phase

# ---- the ops' tensor forms ---------------------------------------------------------------------------


def count(logits, batch, num_valid_rows=None):
    counts = torch.zeros(batch, logits.shape[1], dtype=torch.int64, device=logits.device)
    invalid = torch.zeros(batch, dtype=torch.int64, device=logits.device)
    torch.ops.rsmooth_ext.argmax_count_.default(counts, invalid, logits, num_valid_rows)
    return counts, invalid


@pytest.mark.parametrize("device", DEVICES)
def test_rng_state_tensor_gives_the_int_arguments_noise(device):
    op, op_out = torch.ops.rsmooth_ext.perturb.default, torch.ops.rsmooth_ext.perturb_out.default
    x = torch.rand(2, 3, 4, 4, device=device)
    ids = torch.tensor([5, 2], device=device)
    for noise in all_noises(48):
        for seed, offset, phase, dtype, cl in ((7, 0, 0, None, False), (2**62 + 3, 1000, 2, torch.bfloat16, True)):
            expected = op(x, noise.family, noise.params, 3, seed, offset, phase, ids, dtype, cl)
            state = torch.tensor([seed, offset, phase], device=device)
            got = op(x, noise.family, noise.params, 3, 0, 0, 0, ids, dtype, cl, state)
            assert torch.equal(got, expected), noise
            out = torch.empty_like(expected)
            op_out(out, x, noise.family, noise.params, 3, 0, 0, 0, ids, cl, state)
            assert torch.equal(out, expected), noise


def test_rng_state_errors():
    op = torch.ops.rsmooth_ext.perturb.default
    x = torch.rand(2, 5)

    def call(state, seed=0):
        return op(x, "gaussian", [0.5], 4, seed, 0, 0, None, None, False, state)

    with pytest.raises(ValueError, match="must be 0, got 3"):
        call(torch.tensor([1, 0, 0]), seed=3)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        call(torch.tensor([1, 0]))
    with pytest.raises(TypeError, match="rng_state must be int64"):
        call(torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"rng_state\[1\]=4294967294, num_samples=4"):
        call(torch.tensor([1, 2**32 - 2, 0]))
    with pytest.raises(ValueError, match="phase"):
        call(torch.tensor([1, 0, -1]))


@pytest.mark.parametrize("device", DEVICES)
def test_num_valid_rows_counts_only_the_leading_rows(device):
    g = torch.Generator().manual_seed(3)
    logits = torch.randint(0, 4, (30, 5), generator=g).float().to(device)
    logits[25, 1] = float("nan")  # a padding row: neither a vote nor invalid
    for valid in (0, 7, 10, 22, 30):
        counts, invalid = count(logits, 3, torch.tensor(valid, device=device))
        kept = logits[:valid].cpu()
        expected = torch.zeros(3, 5, dtype=torch.int64)
        for r in range(valid):
            if torch.isfinite(kept[r]).all():
                expected[r // 10, kept[r].argmax()] += 1
        assert torch.equal(counts.cpu(), expected), valid
        assert invalid.sum().item() == int(valid > 25)
    assert torch.equal(count(logits, 3, torch.tensor([30], device=device))[0], count(logits, 3)[0])


def test_num_valid_rows_errors():
    logits = torch.randn(6, 4)
    with pytest.raises(ValueError, match=r"num_valid_rows must be in \[0, 6\].*got 7"):
        count(logits, 2, torch.tensor(7))
    with pytest.raises(TypeError, match="num_valid_rows must be int64"):
        count(logits, 2, torch.tensor(3.0))
    with pytest.raises(ValueError, match="must be a scalar"):
        count(logits, 2, torch.tensor([1, 2]))


def test_opcheck_tensor_forms():
    x = torch.rand(2, 3, 4, 4)
    state = torch.tensor([9, 4, 1])
    torch.library.opcheck(torch.ops.rsmooth_ext.perturb.default,
                          (x, "laplace", [0.5], 3, 0, 0, 0, None, torch.bfloat16, True, state))
    out = torch.empty(6, 3, 4, 4)
    torch.library.opcheck(torch.ops.rsmooth_ext.perturb_out.default,
                          (out, x, "exp2", [0.5, 1.0], 3, 0, 0, 0, None, False, state))
    counts, invalid = torch.zeros(2, 4, dtype=torch.int64), torch.zeros(2, dtype=torch.int64)
    torch.library.opcheck(torch.ops.rsmooth_ext.argmax_count_.default,
                          (counts, invalid, torch.randn(6, 4), torch.tensor(5)))


# ---- autocast ------------------------------------------------------------------------------------------


class Recorder(torch.nn.Module):
    """A linear classifier that records the dtype of its input and whether autocast was on."""

    def __init__(self, dim, num_classes=3):
        super().__init__()
        self.linear = torch.nn.Linear(dim, num_classes)
        self.seen = []

    def forward(self, rows):
        self.seen.append((rows.dtype, torch.is_autocast_enabled(rows.device.type)))
        return self.linear(rows.flatten(1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_writes_the_noisy_batch_in_its_dtype_and_runs_the_model_under_it(dtype):
    torch.manual_seed(0)
    x = torch.rand(3, 2, 4, 4)
    model = Recorder(32)
    noise = rs.Gaussian(sigma=0.5)
    counts = rs.sample_counts(model, x, noise, 40, batch_size=200, seed=4, autocast=dtype)  # one batch
    assert set(model.seen) == {(dtype, True)}
    # the same votes by hand: the noisy batch in `dtype`, the float32 model under autocast
    rows = rs.perturb(x, noise, 40, seed=4, out_dtype=dtype, phase=Phase.PREDICT)
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        logits = model.linear(rows.flatten(1))
    expected = torch.stack([torch.bincount(v, minlength=3) for v in logits.float().argmax(1).reshape(3, 40)])
    assert torch.equal(counts, expected)
    assert model.linear.weight.dtype == torch.float32


def test_autocast_errors():
    x, model, noise = torch.rand(2, 4), torch.nn.Linear(4, 2), rs.Gaussian(sigma=0.5)
    with pytest.raises(TypeError, match="autocast must be None, torch.bfloat16 or torch.float16"):
        rs.sample_counts(model, x, noise, 4, autocast=torch.float32)
    with pytest.raises(ValueError, match="out_dtype=torch.float16 and autocast=torch.bfloat16 disagree"):
        rs.certify(model, x, noise, 4, 4, 0.01, out_dtype=torch.float16, autocast=torch.bfloat16)


# ---- compile ------------------------------------------------------------------------------------------


class CountingBackend:
    """A torch.compile backend that counts the graphs it is given and runs them as they are."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, example_inputs):
        self.graphs.append(gm)
        return gm.forward


def integer_linear(dim, num_classes, seed=0):
    """A linear classifier whose logits are exact in any evaluation order: every logit is one input
    coordinate times a power of two (no sums of rounded terms), so compiled and eager votes must agree."""
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(dim, num_classes, bias=False)
    weight = torch.zeros(num_classes, dim)
    coordinate = torch.randperm(dim, generator=g)[:num_classes]
    weight[torch.arange(num_classes), coordinate] = torch.tensor([1.0, -2.0, 4.0, -1.0, 2.0])[:num_classes]
    with torch.no_grad():
        model.weight.copy_(weight)
    return torch.nn.Sequential(torch.nn.Flatten(), model)


def test_compile_options_and_errors():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert fast_step.compile_options(False, cpu) is None
    assert fast_step.compile_options(True, cpu) == {"fullgraph": True, "dynamic": False}
    assert fast_step.compile_options(True, cuda)["mode"] == "reduce-overhead"
    assert "mode" not in fast_step.compile_options({"backend": "aot_eager"}, cuda)
    assert fast_step.compile_options({"mode": "max-autotune"}, cuda)["mode"] == "max-autotune"
    x, model, noise = torch.rand(2, 4), torch.nn.Linear(4, 2), rs.Gaussian(sigma=0.5)
    with pytest.raises(TypeError, match="compile must be False, True or a dict"):
        rs.sample_counts(model, x, noise, 4, compile="yes")
    with pytest.raises(ValueError, match=r"compile options \['bogus'\] are not supported"):
        rs.sample_counts(model, x, noise, 4, compile={"bogus": 1})


def test_compiled_step_is_one_graph_without_breaks():
    model = integer_linear(12, 3)
    spec = fast_step.StepSpec("count", "gaussian", (0.5,), 2, 5, (3, 4), torch.float32, torch.device("cpu"),
                              torch.bfloat16, False, torch.bfloat16, "")
    x, ids = torch.rand(2, 3, 4), torch.tensor([0, 1])
    with torch.inference_mode():
        explanation = torch._dynamo.explain(fast_step.step_function(spec))(
            model, x, ids, torch.tensor([1, 0, 0]), torch.tensor(10), None)
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1
    targets = {str(node.target) for graph in explanation.graphs for node in graph.graph.nodes}
    assert {"rsmooth_ext.perturb.default", "rsmooth_ext.argmax_count_.default"} <= targets


@pytest.mark.parametrize("n, batch_size", [(6, 20), (25, 10)])  # whole inputs (padded), chunks (last one partial)
def test_compiled_counts_equal_eager_and_compile_once_across_calls(n, batch_size):
    model = integer_linear(16, 4)
    noise = rs.Laplace(sigma=0.5)
    backend = CountingBackend()
    for seed in (1, 2):
        x = torch.rand(7, 16, generator=torch.Generator().manual_seed(seed))
        ids = torch.arange(10, 17)
        eager = rs.sample_counts(model, x, noise, n, batch_size=batch_size, seed=seed, input_ids=ids)
        compiled = rs.sample_counts(model, x, noise, n, batch_size=batch_size, seed=seed, input_ids=ids,
                                    compile={"backend": backend})
        assert torch.equal(compiled, eager)
        assert compiled.sum().item() == 7 * n  # padding rows were not counted
    assert len(backend.graphs) == 1  # one configuration, cached across calls and across batches


def test_compiled_certify_and_predict_soft_match_eager():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x = torch.rand(3, 3, 4)
    noise = rs.Uniform(sigma=0.5)
    options = {"backend": "aot_eager"}
    eager = rs.certify(model, x, noise, 10, 30, 0.01, batch_size=20, seed=3)
    compiled = rs.certify(model, x, noise, 10, 30, 0.01, batch_size=20, seed=3, compile=options)
    assert torch.equal(compiled.counts_selection, eager.counts_selection)
    assert torch.equal(compiled.counts_estimation, eager.counts_estimation)
    soft_eager = rs.predict_soft(model, x, noise, 30, batch_size=20, seed=3)
    soft_compiled = rs.predict_soft(model, x, noise, 30, batch_size=20, seed=3, compile=options)
    torch.testing.assert_close(soft_compiled, soft_eager, rtol=1e-6, atol=1e-7)


@pytest.mark.integration  # an inductor compile
def test_compiled_noise_is_the_eager_noise():
    noise = rs.Exp1(k=2.0, dim=24, sigma=0.5)
    x, ids = torch.rand(2, 24), torch.tensor([4, 8])

    def noisy(x, ids, state):
        return torch.ops.rsmooth_ext.perturb.default(x, noise.family, noise.params, 3, 0, 0, 0, ids, None, False,
                                                     state)

    compiled = torch.compile(noisy, fullgraph=True, dynamic=False)
    for offset in (0, 17):
        expected = rs.perturb(x, noise, 3, seed=11, offset=offset, input_ids=ids, phase=2)
        assert torch.equal(compiled(x, ids, torch.tensor([11, offset, 2])), expected)


@pytest.mark.integration  # an inductor compile
def test_inductor_step_counts_equal_eager_on_an_exact_model():
    """The default backend (inductor, fullgraph) with a partial last chunk: votes identical to eager."""
    model = integer_linear(48, 5)
    x = torch.rand(2, 3, 4, 4)
    noise = rs.Gaussian(sigma=0.5)
    eager = rs.sample_counts(model, x, noise, 70, batch_size=32, seed=9)
    compiled = rs.sample_counts(model, x, noise, 70, batch_size=32, seed=9, compile=True, channels_last=True)
    assert torch.equal(compiled, eager)


def small_cnn(num_classes=10):
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(32 * 16, num_classes),
    )


@pytest.mark.integration  # an inductor compile
def test_inductor_step_on_a_cnn_agrees_with_eager():
    """On a CNN the compiled model's float rounding may flip a sample whose top two logits nearly tie: the
    votes agree within 1% of n per class (a wrong noise stream would differ by several standard deviations)."""
    torch.manual_seed(0)
    cnn = small_cnn()
    x = torch.rand(2, 3, 32, 32)
    noise = rs.Gaussian(sigma=0.25)
    n = 400
    eager = rs.sample_counts(cnn, x, noise, n, batch_size=200, seed=5, channels_last=True)
    compiled = rs.sample_counts(cnn, x, noise, n, batch_size=200, seed=5, channels_last=True, compile=True)
    assert (compiled - eager).abs().max().item() <= 0.01 * n
    assert compiled.sum().item() == 2 * n


# ---- CUDA graphs (run by benchmarks/gpu_check.sh) -------------------------------------------------------


@requires_cuda
def test_cuda_tensor_forms_on_the_device():
    x = torch.rand(3, 3, 8, 8, device="cuda")
    noise = rs.Lomax(k=3.5, sigma=0.5)
    expected = rs.perturb(x, noise, 4, seed=5, offset=9, phase=1)
    state = torch.tensor([5, 9, 1], device="cuda")
    got = torch.ops.rsmooth_ext.perturb.default(x, noise.family, noise.params, 4, 0, 0, 0, None, None, False, state)
    assert torch.equal(got, expected)
    logits = torch.randn(12, 5, device="cuda")
    full, _ = count(logits, 3)
    part, _ = count(logits, 3, torch.tensor(6, device="cuda"))
    assert torch.equal(part[:1], full[:1]) and part[1].sum() == 2 and part[2].sum() == 0


@requires_cuda
def test_cuda_graph_counts_exact_model_and_cnn():
    """mode="reduce-overhead" (CUDA graphs): votes identical to eager on the exact model, within 1% of n
    per class on the CNN under bf16 autocast, eager vs compiled (flips only where compiled rounding crosses a
    decision boundary); every batch and
    the second call replay the graph (no CUDA-graph skips, one compile)."""
    from torch._dynamo.utils import counters

    counters.clear()
    exact = integer_linear(3 * 8 * 8, 5).cuda()
    x = torch.rand(5, 3, 8, 8, device="cuda")
    noise = rs.Gaussian(sigma=0.5)
    for seed in (1, 2):
        eager = rs.sample_counts(exact, x, noise, 300, batch_size=128, seed=seed)
        assert torch.equal(rs.sample_counts(exact, x, noise, 300, batch_size=128, seed=seed, compile=True), eager)
    assert counters["inductor"]["cudagraph_skips"] == 0
    assert counters["stats"]["unique_graphs"] == 1
    torch.manual_seed(0)
    cnn = small_cnn().cuda()
    x = torch.rand(4, 3, 32, 32, device="cuda")
    n = 2000
    eager = rs.certify(cnn, x, noise, 100, n, 0.001, batch_size=500, seed=3, channels_last=True,
                       autocast=torch.bfloat16)
    fast = rs.certify(cnn, x, noise, 100, n, 0.001, batch_size=500, seed=3, channels_last=True,
                      autocast=torch.bfloat16, compile=True)
    assert (fast.counts_estimation - eager.counts_estimation).abs().max().item() <= 0.01 * n
    same = rs.certify(cnn, x, noise, 100, n, 0.001, batch_size=500, seed=3, channels_last=True,
                      autocast=torch.bfloat16, compile=True)
    assert torch.equal(same.counts_estimation, fast.counts_estimation)  # replays are deterministic
    assert counters["inductor"]["cudagraph_skips"] == 0
