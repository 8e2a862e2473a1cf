"""The command line's --sound: sound specs certify and predict, the results file records the mode, and the
mode's options are refused where they do not apply."""

import pytest

from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results


def test_sound_certify_records_the_mode(workdir, base):
    # the fixture's inputs are uniform floats, not 8-bit images: --quantize rounds them to the grid
    assert main(["certify", *base, "--sound", "--quantize", "--out", "s.tsv"]) == 0
    config = read_results("s.tsv").config
    assert config["mode"] == "sound" and config["grid"] == 255 and config["quantize"] is True
    assert config["noise_repr"].startswith("SoundGaussian(grid=255")
    assert main(["certify", *base, "--out", "f.tsv"]) == 0
    assert "mode" not in read_results("f.tsv").config


@pytest.mark.parametrize("noise", ["laplace", "uniform"])
def test_sound_laplace_and_uniform_certify(workdir, base, noise):
    assert main(["certify", *base, "--noise", noise, "--sound", "--quantize", "--out", f"{noise}.tsv"]) == 0
    rows = read_results(f"{noise}.tsv").rows
    assert len(rows) == 6


def test_sound_predict(workdir, base):
    args = [a for a in base if a not in ("--n0", "20")]
    assert main(["predict", *args, "--sound", "--quantize", "--out", "p.tsv"]) == 0
    assert read_results("p.tsv").config["mode"] == "sound"


@pytest.mark.parametrize("args, message", [
    (["--sound"], "must lie on the grid"),
    (["--sound", "--noise", "lomax"], "--sound needs --noise gaussian, laplace or uniform"),
    (["--quantize"], "apply to --sound only"),
    (["--sound", "--quantize", "--clip", "0.001"], "clip \\* grid must be an integer"),
])
def test_sound_errors(workdir, base, capsys, args, message):
    assert main(["certify", *base, *args, "--out", "bad.tsv"]) == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)
