"""The attack API: bad arguments, fixed noise (reproducible, per input id, independent of the batch), the model's
state left as it was, autocast, channels_last and the devices."""

import pytest
import torch
from support import DEVICES

import rsmooth_ext as rs
from rsmooth_ext.attacks import SmoothedObjective, attack, lp_norm


def _cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4))


def _batch(device="cpu"):
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 6, 6, generator=g).to(device), torch.tensor([0, 1, 3], device=device)


NOISE = rs.Gaussian(sigma=0.25)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"eps": -0.1}, ValueError, "eps must be a finite number >= 0"),
    ({"eps": float("nan")}, ValueError, "eps must be a finite"),
    ({"eps": "1"}, TypeError, "eps must be a real number"),
    ({"steps": 0}, ValueError, "steps must be >= 1"),
    ({"m": 0}, ValueError, "m must be >= 1"),
    ({"m": 2.0}, TypeError, "m must be an int"),
    ({"norm": "l3"}, ValueError, "norm must be one of l2, linf, l1, got 'l3'"),
    ({"method": "cw"}, ValueError, "method must be one of pgd, ddn"),
    ({"method": "ddn", "norm": "linf"}, ValueError, "'ddn' is an l2 attack"),
    ({"gradient": "hard"}, ValueError, "gradient must be one of soft, eot"),
    ({"step_size": 0.0}, ValueError, "step_size must be a finite number > 0"),
    ({"gamma": 1.5}, ValueError, "gamma must be in"),
    ({"l1_sparsity": 2.0}, ValueError, "l1_sparsity must be in"),
    ({"autocast": torch.float64}, TypeError, "autocast must be None"),
    ({"channels_last": 1}, TypeError, "channels_last must be a bool"),
    ({"seed": 1.5}, TypeError, "seed must be an int"),
    ({"input_ids": torch.tensor([0, 1])}, ValueError, "input_ids must have shape"),
    ({"noise": "gaussian"}, TypeError, "noise must be an rsmooth_ext noise spec"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    x, y = _batch()
    args = {"model": _cnn(), "x": x, "y": y, "noise": NOISE, "eps": 0.5, "steps": 2, "m": 2, "seed": 0}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        attack(**args)


@pytest.mark.parametrize("change,match", [
    (lambda x, y: (x * 2, y), r"x must lie in \[0, 1\]"),
    (lambda x, y: (x.flatten(), y), "x must be a batch"),
    (lambda x, y: (x.double(), y), "x must be float32"),
    (lambda x, y: (x, y.int()), "y must be an int64 tensor of shape"),
    (lambda x, y: (x, y[:2]), "y must be an int64 tensor of shape"),
    (lambda x, y: (x, y - 1), "y must hold class indices >= 0"),
    (lambda x, y: (x, y + 1), "below the model's 4 outputs, got 4"),
])
def test_bad_batches_are_named(change, match):
    x, y = change(*_batch())
    with pytest.raises((ValueError, TypeError), match=match):
        attack(_cnn(), x, y, NOISE, 0.5, 2, 2, seed=0)


def test_noise_is_fixed_per_seed_and_input_id_and_independent_of_the_batch():
    model, (x, y) = _cnn(), _batch()
    ids = torch.tensor([7, 3, 11])
    whole = attack(model, x, y, NOISE, 0.5, 3, 4, seed=9, input_ids=ids)
    assert torch.equal(whole, attack(model, x, y, NOISE, 0.5, 3, 4, seed=9, input_ids=ids))
    for i in range(3):  # one input at a time, same id: the same copies, so the same attack (eval-mode batch norm)
        alone = attack(model, x[i : i + 1], y[i : i + 1], NOISE, 0.5, 3, 4, seed=9, input_ids=ids[i : i + 1])
        assert torch.allclose(alone, whole[i : i + 1], atol=1e-5)
    assert not torch.allclose(whole, attack(model, x, y, NOISE, 0.5, 3, 4, seed=10, input_ids=ids))


def test_copies_are_the_same_at_every_step_and_differ_between_inputs():
    objective = SmoothedObjective(torch.nn.Flatten(), NOISE, 5, 4, torch.tensor([0, 1]))
    x = torch.full((2, 1, 2, 2), 0.5)
    first, second = objective.log_probs(x), objective.log_probs(x)
    assert torch.equal(first, second)
    raw = rs.perturb(x, NOISE, 5, seed=4, input_ids=torch.tensor([0, 1]), phase=rs.seeding.Phase.ATTACK)
    assert not torch.allclose(raw[:5], raw[5:])
    predict_phase = rs.perturb(x, NOISE, 5, seed=4, input_ids=torch.tensor([0, 1]))
    assert not torch.allclose(raw, predict_phase)  # not the noise PREDICT draws with the same seed


def test_model_mode_and_parameters_are_left_alone():
    model, (x, y) = _cnn(), _batch()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attack(model, x, y, NOISE, 0.5, 2, 3, seed=0)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # no batch-norm statistics


def test_zero_budget_returns_the_input():
    model, (x, y) = _cnn(), _batch()
    assert torch.equal(attack(model, x, y, NOISE, 0.0, 3, 2, seed=0), x)


def test_the_attack_raises_the_soft_smoothed_loss():
    model, (x, y) = _cnn(), _batch()
    objective = SmoothedObjective(model.eval(), NOISE, 8, 0, torch.arange(3))
    clean = objective.evaluate(x, y)
    adv = attack(model, x, y, NOISE, 1.0, 10, 8, seed=0)
    assert torch.all(objective.evaluate(adv, y).loss > clean.loss)
    # DDN: an input already misclassified is its own smallest adversarial; the others get a higher loss
    adv = attack(model, x, y, NOISE, 1.0, 10, 8, seed=0, method="ddn")
    wrong = clean.prediction != y
    assert wrong.any() and (~wrong).any()
    assert torch.equal(adv[wrong], x[wrong])
    assert torch.all(objective.evaluate(adv, y).loss[~wrong] > clean.loss[~wrong])


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_and_autocast(device):
    model, (x, y) = _cnn().to(device), _batch(device)
    plain = attack(model, x, y, NOISE, 0.5, 3, 4, seed=2)
    assert plain.device == x.device
    assert torch.allclose(attack(model, x, y, NOISE, 0.5, 3, 4, seed=2, channels_last=True), plain, atol=1e-4)
    for dtype in (torch.bfloat16, torch.float16):
        if device == "cpu" and dtype == torch.float16:
            continue  # CPU autocast is bfloat16's
        adv = attack(model, x, y, NOISE, 0.5, 3, 4, seed=2, autocast=dtype, channels_last=True)
        assert adv.dtype == x.dtype
        assert torch.all(lp_norm(adv - x, "l2") <= 0.5 * (1 + 1e-5))
        assert float(adv.min()) >= 0 and float(adv.max()) <= 1
        assert torch.all(lp_norm(adv - plain, "l2") < 0.25)  # the same attack, to low-precision rounding
