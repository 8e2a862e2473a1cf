"""rsmooth analyze (and its alias plot): Cohen's certified-accuracy tables and curves from his TSV format and
from rsmooth results files."""

import pytest
from support.planted import inflate_radii

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


# ---- --attack: empirical robust accuracy beside certified accuracy, and the soundness alarm ----------

ATTACK = ["--eps", "0,0.5,2", "--steps", "4", "--m", "8"]


@pytest.fixture
def certified_and_attacked(workdir, base):
    """A certify run and an attack run (a large budget: it flips most predictions) of the workdir model."""
    assert main(["certify", *base, "--out", "c.tsv"]) == 0
    attack_options = [a for a in base if a not in ("--n0", "20")]
    assert main(["attack", *attack_options, *ATTACK, "--out", "a.tsv"]) == 0
    return workdir / "c.tsv", workdir / "a.tsv"


def test_analyze_attack_is_silent_on_real_certificates(certified_and_attacked, capsys):
    certified, attacked = certified_and_attacked
    assert main(["analyze", str(certified), "--attack", str(attacked)]) == 0
    printed = capsys.readouterr().out
    assert "| eps (l2) | certified accuracy | empirical robust accuracy |" in printed
    assert "sound: no eps has more alarms than alpha allows" in printed and "**UNSOUND**" not in printed


def test_analyze_attack_fires_on_a_planted_unsound_certificate(certified_and_attacked, capsys, workdir):
    certified, attacked = certified_and_attacked
    inflate_radii(certified, workdir / "inflated.tsv")
    assert main(["analyze", str(workdir / "inflated.tsv"), "--attack", str(attacked)]) == 1
    printed = capsys.readouterr().out
    assert "**UNSOUND**" in printed and "UNSOUND: more alarms than alpha allows at eps 2" in printed
    assert "soundness alarms at examples" in printed


def test_analyze_attack_alone_prints_the_empirical_table(certified_and_attacked, capsys):
    _, attacked = certified_and_attacked
    assert main(["analyze", "--attack", str(attacked)]) == 0
    assert "| eps (l2) | empirical robust accuracy | abstained | examples |" in capsys.readouterr().out


def test_analyze_attack_refuses_runs_that_do_not_compare(certified_and_attacked, base, capsys, workdir):
    certified, attacked = certified_and_attacked
    other = [a if a != "0.3" else "0.5" for a in base]  # another sigma
    assert main(["certify", *other, "--out", "c05.tsv"]) == 0
    capsys.readouterr()
    assert main(["analyze", "c05.tsv", "--attack", str(attacked)]) == 2
    assert "come from different runs (noise_repr differ)" in capsys.readouterr().err
    assert main(["analyze", str(attacked), "--attack", str(attacked)]) == 2
    assert "is not a results file of rsmooth certify" in capsys.readouterr().err
    assert main(["analyze", str(certified), "--attack", str(certified)]) == 2
    assert "is not a results file of rsmooth attack" in capsys.readouterr().err
    assert main(["analyze", str(certified), "--attack", str(attacked), "--alarm-level", "2"]) == 2
    assert "--alarm-level: level must be in (0, 1)" in capsys.readouterr().err
    assert main(["analyze"]) == 2
    assert "name at least one results file" in capsys.readouterr().err
