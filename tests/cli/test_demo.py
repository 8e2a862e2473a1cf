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

