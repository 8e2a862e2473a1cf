"""The attack and the soundness check on real models (the 8x8 digits): an undefended model's smoothed classifier
falls far below its certified accuracy at radius 0 under attack; the demo's noise-trained model raises no more
soundness alarms than alpha allows at any eps, while the same attack against a planted unsound certificate
(its radii inflated) does."""

import pytest
import torch
from support.planted import inflate_radii

import rsmooth_ext as rs
from rsmooth_ext.attacks import attack
from rsmooth_ext.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.requires("sklearn")]


def _train_clean(epochs: int = 10):
    """The demo CNN trained on the clean digits (no noise): an undefended base classifier."""
    from rsmooth_ext.demo import digits_cnn, load_digits_split

    x, y, _, _ = load_digits_split()
    torch.manual_seed(0)
    model = digits_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        for batch in order.split(64):
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def test_attack_on_an_undefended_model_falls_far_below_certified_accuracy_at_zero():
    from rsmooth_ext.demo import load_digits_split

    _, _, x, y = load_digits_split()
    x, y = x[:100], y[:100]
    model, noise = _train_clean(), rs.Gaussian(sigma=0.12)
    certified = rs.certify(model, x, noise, 50, 500, 0.001, seed=0)
    at_zero = float(((certified.prediction == y) & (certified.radius >= 0)).float().mean())
    adversarial = attack(model, x, y, noise, 1.0, 20, 16, seed=0)
    attacked = float((rs.predict(model, adversarial, noise, 500, 0.001, seed=0) == y).float().mean())
    assert at_zero > 0.8
    assert attacked < at_zero - 0.5


@pytest.mark.integration
def test_soundness_alarm_silent_on_the_demo_model_and_firing_on_inflated_radii(tmp_path, monkeypatch, capsys):
    from rsmooth_ext.demo import load_digits_split, train_digits_model

    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    model = train_digits_model(rs.Gaussian(sigma=0.5), epochs=10, quiet=True, log=lambda *a: None)
    torch.save(model.state_dict(), "digits.pt")
    _, _, x, y = load_digits_split()
    torch.save({"inputs": x, "labels": y}, "digits-test.pt")
    common = ["--model", "rsmooth_ext.demo:digits_cnn", "--weights", "digits.pt", "--data", "digits-test.pt",
              "--sigma", "0.5", "--n", "500", "--limit", "60", "--quiet"]
    assert main(["certify", *common, "--n0", "50", "--out", "certify.tsv"]) == 0
    assert main(["attack", *common, "--eps", "0.25,0.5,0.75,1.0", "--steps", "10", "--m", "16",
                 "--out", "attack.tsv"]) == 0
    capsys.readouterr()
    assert main(["analyze", "certify.tsv", "--attack", "attack.tsv"]) == 0
    printed = capsys.readouterr().out
    assert "sound: no eps has more alarms than alpha allows" in printed
    rows = [line.split(" | ") for line in printed.splitlines() if line.startswith("| ") and "---" not in line][1:]
    for cells in rows:  # empirical robust accuracy >= certified accuracy at every eps (up to alpha's failures)
        assert float(cells[2]) >= float(cells[1]) - 0.05

    inflate_radii(tmp_path / "certify.tsv", tmp_path / "inflated.tsv")
    assert main(["analyze", "inflated.tsv", "--attack", "attack.tsv"]) == 1
    assert "UNSOUND: more alarms than alpha allows" in capsys.readouterr().out
