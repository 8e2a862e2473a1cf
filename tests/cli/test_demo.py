"""rsmooth demo end to end: train (then load from the cache) the digits CNN and certify it."""

import pytest

from rsmooth_ext.cli import main


@pytest.mark.requires("sklearn")  # in-process: the fast suite's test of rsmooth_ext.demo
def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--limit", "12", "--n0", "20", "--n", "200", "--epochs", "2", "--quiet"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "trained the demo CNN" in first and "| gaussian sigma=0.5 |" in first
    assert (out / "certify-gaussian-sigma0.5.tsv").exists() and (out / "certify-gaussian-sigma0.5.png").exists()
    assert main(args) == 0
    assert "loaded the trained demo model from the cache" in capsys.readouterr().out
    assert main([*args, "--train-loss", "smoothed-nll", "--noise", "laplace"]) == 0



@pytest.mark.requires("sklearn")
@pytest.mark.parametrize("method", ["gaussian", "smoothed-nll", "stability", "consistency", "macer"])
def test_demo_trains_with_every_method(tmp_path, monkeypatch, capsys, method):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path / "cache"))
    args = ["demo", "--out", str(tmp_path / "demo"), "--limit", "8", "--n0", "10", "--n", "50", "--epochs", "1",
            "--quiet", "--train-loss", method]
    assert main(args) == 0
    assert f"({method} {{'m'" in capsys.readouterr().out


@pytest.mark.requires("sklearn")
def test_demo_refuses_a_method_the_noise_does_not_allow(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path / "cache"))
    args = ["demo", "--out", str(tmp_path / "demo"), "--limit", "8", "--epochs", "1", "--quiet",
            "--train-loss", "macer", "--noise", "masking", "--keep", "0.5"]
    assert main(args) == 2
    assert "method macer cannot train under Masking" in capsys.readouterr().err
