"""rsmooth analyze (and its alias plot): Cohen's certified-accuracy tables and curves from his TSV format and
from rsmooth results files."""

import pytest

from rsmooth_ext.cli import main
from rsmooth_ext.cli.analyze import parse_radii


@pytest.mark.requires("matplotlib")
def test_analyze_command(tmp_path, cohen_files, capsys):
    out = tmp_path / "out"
    out.mkdir()
    argv = ["analyze", *cohen_files, "--radii", "0.25,0.5,0.75", "--labels", "s=0.25,s=0.50",
            "--markdown", str(out / "t.md"), "--latex", str(out / "t.tex"), "--plot", str(out / "ca.png")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| s=0.25 | **0.60** | 0.40 | 0.00 | 0.280 | 5 |" in printed and "radius >= r" in printed
    assert (out / "t.md").read_text().startswith("| run | r = 0.25 |")
    assert "\\textbf{0.60}" in (out / "t.tex").read_text()
    assert (out / "ca.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--radii", "0.5,0.25"], "--radii: radii must be increasing"),
        (["--labels", "just-one"], "--labels must name each of the 2 results files, got 1"),
        (["--plot", "no/such/dir/p.png"], "does not exist"),
    ],
)
def test_analyze_errors(cohen_files, capsys, extra, message):
    assert main(["analyze", *cohen_files, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rsmooth: error: ") and message in err


def test_analyze_missing_file(capsys):
    assert main(["analyze", "nope.tsv"]) == 2
    assert "results file nope.tsv does not exist" in capsys.readouterr().err


def test_parse_radii():
    assert parse_radii("0.25,0.5,0.75") == [0.25, 0.5, 0.75]
    for bad in ("0.5,0.25", "a,b", "-1", ""):
        with pytest.raises(ValueError, match="radii must be"):
            parse_radii(bad)


@pytest.mark.requires("matplotlib")
def test_plot_is_analyze_with_plot(workdir, base, capsys):
    assert main(["certify", *base, "--out", "a.tsv"]) == 0
    assert main(["certify", *base, "--noise", "laplace", "--out", "b.tsv"]) == 0
    capsys.readouterr()
    assert main(["plot", "a.tsv", "b.tsv", "--out", "curves.png"]) == 0
    out = capsys.readouterr().out
    assert "| gaussian sigma=0.3 |" in out and "| laplace sigma=0.3 |" in out
    png = (workdir / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(str(workdir / "curves.png")).ndim == 3
    # the same command as analyze --plot: the same printed table, the same picture
    assert main(["analyze", "a.tsv", "b.tsv", "--plot", "analyzed.png"]) == 0
    assert capsys.readouterr().out.replace("analyzed.png", "curves.png") == out
    assert (workdir / "analyzed.png").read_bytes() == png
    assert main(["plot", "a.tsv"]) == 0 and (workdir / "certified_accuracy.png").exists()


def test_plot_refuses_predictions(workdir, base, capsys):
    assert main(["predict", *[a for a in base if a not in ("--n0", "20")], "--out", "p.tsv"]) == 0
    capsys.readouterr()
    assert main(["plot", "p.tsv"]) == 2
    assert "holds predictions, not certificates" in capsys.readouterr().err
