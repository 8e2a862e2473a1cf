"""The method registry and the step's noisy copies: defaults, range checks, registration, reproducible noise."""

import pytest
import torch

import rsmooth_ext as rs
from rsmooth_ext.train import METHODS, NoisyCopies, epoch_seed, get_method, register_method
from rsmooth_ext.train.methods import Hyperparameter

PAPER_METHODS = ("gaussian", "smoothed-nll", "stability", "consistency", "macer")


def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))


def step_inputs(b=4):
    g = torch.Generator().manual_seed(1)
    return torch.rand(b, 1, 4, 4, generator=g), torch.randint(0, 3, (b,), generator=g)


def test_the_papers_methods_are_registered_with_their_defaults():
    assert set(PAPER_METHODS) <= set(METHODS)
    assert METHODS["gaussian"].defaults() == {"m": 1}
    assert METHODS["smoothed-nll"].defaults() == {"m": 16}
    assert METHODS["stability"].defaults() == {"m": 1, "lambd": 6.0}
    assert METHODS["consistency"].defaults() == {"m": 2, "lambd": 20.0, "eta": 0.5}
    assert METHODS["macer"].defaults() == {"m": 16, "lambd": 12.0, "beta": 16.0, "gamma": 8.0}
    for name in PAPER_METHODS:
        assert METHODS[name].reference and METHODS[name].summary
        assert all(h.help for h in METHODS[name].hyperparameters)


@pytest.mark.parametrize("name", PAPER_METHODS)
def test_each_method_returns_a_scalar_loss_and_the_copies_logits_and_trains(name):
    model, (x, y) = tiny_model(), step_inputs()
    method = get_method(name)
    hparams = method.resolve({"m": 3} if name != "consistency" else {}, rs.Gaussian(sigma=0.5))
    copies = NoisyCopies(rs.Gaussian(sigma=0.5), seed=0, epoch=0, example_ids=torch.arange(4))
    loss, logits = method.loss(model, x, y, copies, hparams, epoch=0, epochs=1)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert logits.shape == (4, hparams["m"], 3)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_hyperparameters_out_of_range_unknown_or_of_the_wrong_type_are_refused():
    with pytest.raises(ValueError, match=r"method consistency: hyperparameter m must be an integer >= 2, got 1"):
        get_method("consistency").resolve({"m": 1})
    with pytest.raises(ValueError, match=r"method macer: hyperparameter gamma must be a number > 0, got 0.0"):
        get_method("macer").resolve({"gamma": 0.0})
    with pytest.raises(ValueError, match=r"method stability: hyperparameter lambd must be a number >= 0, got -2.0"):
        get_method("stability").resolve({"lambd": -2.0})
    with pytest.raises(TypeError, match=r"method gaussian: hyperparameter m must be an integer >= 1, got 2.5"):
        get_method("gaussian").resolve({"m": 2.5})
    with pytest.raises(ValueError, match=r"method gaussian has no hyperparameter 'lambd' \(its hyperparameters: m\)"):
        get_method("gaussian").resolve({"lambd": 1.0})
    assert get_method("gaussian").resolve({"m": 4.0}) == {"m": 4}


def test_unknown_method_and_a_noise_the_method_cannot_use():
    with pytest.raises(ValueError, match=r"unknown training method 'cohen'; registered: .*consistency.*gaussian"):
        get_method("cohen")
    with pytest.raises(ValueError, match=r"method macer cannot train under Masking.*needs the noise's l2 sigma"):
        get_method("macer").resolve({}, rs.Masking(keep=0.5))


def test_register_method_adds_a_method_and_refuses_a_second_of_the_same_name():
    @register_method("test-only-plain", reference="none", summary="clean cross-entropy",
                     hyperparameters=(Hyperparameter("w", 1.0, "weight"),))
    def plain(model, x, y, copies, hparams, *, epoch, epochs):
        return hparams["w"] * torch.nn.functional.cross_entropy(model(x), y)

    try:
        assert METHODS["test-only-plain"].loss is plain
        with pytest.raises(ValueError, match=r"a training method named 'test-only-plain' is registered already"):
            register_method("test-only-plain", reference="", summary="")(plain)
    finally:
        del METHODS["test-only-plain"]


def test_copies_are_a_pure_function_of_seed_epoch_example_and_copy():
    x, _ = step_inputs(6)
    noise = rs.Laplace(sigma=0.3)
    ids = torch.tensor([5, 9, 2, 7, 0, 11])
    a = NoisyCopies(noise, 3, 2, ids)(x, 4)
    assert torch.equal(a, NoisyCopies(noise, 3, 2, ids)(x, 4))  # twice: the same noise
    # the same example in another batch position (another batch) gets the same noise
    perm = torch.tensor([3, 1, 0, 5, 2, 4])
    b = NoisyCopies(noise, 3, 2, ids[perm])(x[perm], 4).reshape(6, 4, 1, 4, 4)
    assert torch.equal(b, a.reshape(6, 4, 1, 4, 4)[perm])
    # copies 2, 3 are copies 2, 3 whatever m and offset ask for them
    c = NoisyCopies(noise, 3, 2, ids)(x, 2, offset=2).reshape(6, 2, 1, 4, 4)
    assert torch.equal(c, a.reshape(6, 4, 1, 4, 4)[:, 2:])
    # another epoch or seed: other noise
    assert not torch.equal(a, NoisyCopies(noise, 3, 3, ids)(x, 4))
    assert not torch.equal(a, NoisyCopies(noise, 4, 2, ids)(x, 4))
    assert epoch_seed(3, 2) == epoch_seed(3, 2) != epoch_seed(2, 3)


def test_copies_follow_autocast_and_channels_last_and_carry_the_gradient():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    copies = NoisyCopies(rs.Gaussian(sigma=0.25), 0, 0, torch.arange(2), channels_last=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = copies(x, 3)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    out.float().sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 3.0))  # the sum over the 3 copies


def test_copies_refuse_a_batch_of_another_size():
    copies = NoisyCopies(rs.Gaussian(sigma=0.25), 0, 0, torch.arange(2))
    with pytest.raises(ValueError, match=r"copies: x must be the step's batch of 2 examples, got shape \(3, 4\)"):
        copies(torch.rand(3, 4), 1)


@pytest.mark.cuda
@pytest.mark.parametrize("name", PAPER_METHODS + ("smoothadv", "smoothmix"))
def test_each_method_on_cuda_matches_its_cpu_step(name):
    """The copies are a function of (seed, epoch, example id, copy index), not of the device: one step of each
    method on CUDA gives the CPU step's loss and gradients (float32 rounding apart: 1e-4 relative)."""
    method = get_method(name)
    hparams = method.resolve({"m": 3} if name not in ("consistency", "smoothmix") else {}, rs.Gaussian(sigma=0.5))
    results = []
    for device in ("cpu", "cuda"):
        model, (x, y) = tiny_model().to(device), step_inputs()
        copies = NoisyCopies(rs.Gaussian(sigma=0.5), seed=0, epoch=0, example_ids=torch.arange(4, device=device))
        torch.manual_seed(3)  # methods that draw outside the copies (attack starts) draw the same on both
        out = method.loss(model, x.to(device), y.to(device), copies, hparams, epoch=0, epochs=1)
        loss = out[0] if isinstance(out, tuple) else out
        loss.backward()
        results.append((loss.detach().cpu(), [p.grad.cpu() for p in model.parameters()]))
    (cpu_loss, cpu_grads), (cuda_loss, cuda_grads) = results
    torch.testing.assert_close(cuda_loss, cpu_loss, rtol=1e-4, atol=1e-5)
    for a, b in zip(cuda_grads, cpu_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
