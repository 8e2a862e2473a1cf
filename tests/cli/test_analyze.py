"""rsmooth analyze: Cohen's certified-accuracy tables from his TSV format and from rsmooth results files."""

import numpy as np
import pytest

from rsmooth_ext.cli import main
from rsmooth_ext.cli.analysis import latex_table, markdown_table, parse_radii, parse_seconds, read_run, read_runs
from rsmooth_ext.cli.results import CERTIFY_COLUMNS, ResultsError, ResultsWriter

# Cohen's certify.py rows: idx, label, predict (-1 abstains), radius ({:.3}), correct, time (str(timedelta))
COHEN_SIGMA_025 = """idx\tlabel\tpredict\tradius\tcorrect\ttime
0\t3\t3\t0.3\t1\t0:00:15.400000
20\t7\t-1\t0.0\t0\t0:00:15.600000
40\t4\t4\t0.6\t1\t0:00:15.700000
60\t7\t1\t0.9\t0\t0:00:15.800000
80\t8\t8\t0.5\t1\t0:00:15.900000
"""
# certified at r (correct and radius >= r): r=0.25 -> rows 0, 40, 80 (3/5); r=0.5 -> 40 and 80 (0.5 >= 0.5);
# r=0.75 -> none (the 0.9 row is misclassified); ACR = (0.3 + 0.6 + 0.5) / 5 = 0.28
COHEN_SIGMA_050 = """idx\tlabel\tpredict\tradius\tcorrect\ttime
0\t3\t3\t0.2\t1\t15.4
20\t7\t7\t0.8\t1\t15.6
40\t4\t-1\t0.0\t0\t15.7
60\t7\t7\t1.1\t1\t15.8
"""
# r=0.25 -> 2/4, r=0.5 -> 2/4, r=0.75 -> 2/4; ACR = (0.2 + 0.8 + 1.1) / 4 = 0.525


@pytest.fixture
def cohen_files(tmp_path):
    (tmp_path / "sigma_0.25").write_text(COHEN_SIGMA_025)
    (tmp_path / "sigma_0.50").write_text(COHEN_SIGMA_050)
    return [str(tmp_path / "sigma_0.25"), str(tmp_path / "sigma_0.50")]


def test_cohen_tsv_certified_accuracy_and_acr(cohen_files):
    run = read_run(cohen_files[0])
    np.testing.assert_allclose(run.certified_accuracy([0.25, 0.5, 0.75]), [0.6, 0.4, 0.0])
    assert run.average_certified_radius() == pytest.approx(0.28)
    assert run.abstention_rate() == pytest.approx(0.2)
    np.testing.assert_allclose(run.seconds, [15.4, 15.6, 15.7, 15.8, 15.9])
    other = read_run(cohen_files[1])
    np.testing.assert_allclose(other.certified_accuracy([0.25, 0.5, 0.75]), [0.5, 0.5, 0.5])
    assert other.average_certified_radius() == pytest.approx(0.525)


def test_tables_mark_the_best_run_at_each_radius(cohen_files):
    runs = read_runs(cohen_files, ["$\\sigma = 0.25$", "$\\sigma = 0.50$"])
    md = markdown_table(runs, [0.25, 0.5, 0.75]).splitlines()
    assert md[0] == "| run | r = 0.25 | r = 0.5 | r = 0.75 | ACR | examples |"
    assert md[2] == "| $\\sigma = 0.25$ | **0.60** | 0.40 | 0.00 | 0.280 | 5 |"
    assert md[3] == "| $\\sigma = 0.50$ | 0.50 | **0.50** | **0.50** | 0.525 | 4 |"
    tex = latex_table(runs, [0.25, 0.5, 0.75]).splitlines()
    assert tex[0] == "\\begin{tabular}{lcccc}" and tex[2] == " & $r = 0.25$ & $r = 0.5$ & $r = 0.75$ & ACR \\\\"
    assert tex[4] == "$\\sigma = 0.25$ & \\textbf{0.60} & 0.40 & 0.00 & 0.280 \\\\"
    assert tex[5] == "$\\sigma = 0.50$ & 0.50 & \\textbf{0.50} & \\textbf{0.50} & 0.525 \\\\"
    assert tex[-1] == "\\end{tabular}"
    single = markdown_table(runs[:1], [0.25, 0.5]).splitlines()
    assert single[2] == "| $\\sigma = 0.25$ | 0.60 | 0.40 | 0.280 | 5 |"  # one run: nothing to mark


def test_rsmooth_results_files_read_the_same(tmp_path, cohen_files):
    config = {"command": "certify", "noise": "gaussian", "sigma": 0.25, "lambd": None}
    writer = ResultsWriter(str(tmp_path / "r.tsv"), config, CERTIFY_COLUMNS, resume=False)
    for line in COHEN_SIGMA_025.splitlines()[1:]:
        idx, label, predict, radius, correct, _ = line.split("\t")
        writer.write({"index": int(idx), "label": int(label), "prediction": int(predict), "p_lower": 0.9,
                      "radius": float(radius), "correct": int(correct), "seconds": 1.0})
    writer.close()
    ours, cohen = read_run(str(tmp_path / "r.tsv")), read_run(cohen_files[0])
    assert ours.label == "gaussian sigma=0.25"
    np.testing.assert_array_equal(ours.certified_accuracy([0, 0.25, 0.5, 0.75]),
                                  cohen.certified_accuracy([0, 0.25, 0.5, 0.75]))
    assert ours.average_certified_radius() == cohen.average_certified_radius()


def test_parse_seconds_and_radii():
    assert parse_seconds("15.4") == 15.4
    assert parse_seconds("0:00:15.432100") == pytest.approx(15.4321)
    assert parse_seconds("1:02:03") == 3723
    assert parse_seconds("1 day, 2:03:04.5") == pytest.approx(93784.5)
    with pytest.raises(ValueError, match="time must be seconds or H:MM:SS.ffffff, got '15s'"):
        parse_seconds("15s")
    assert parse_radii("0.25,0.5,0.75") == [0.25, 0.5, 0.75]
    for bad in ("0.5,0.25", "a,b", "-1", ""):
        with pytest.raises(ValueError, match="radii must be"):
            parse_radii(bad)


def test_malformed_files(tmp_path):
    (tmp_path / "other.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ResultsError, match="neither an rsmooth results file nor Cohen's TSV"):
        read_run(str(tmp_path / "other.tsv"))
    (tmp_path / "short.tsv").write_text(COHEN_SIGMA_025 + "100\t1\t1\n")
    with pytest.raises(ResultsError, match="short.tsv:7: expected 6 columns, got 3"):
        read_run(str(tmp_path / "short.tsv"))
    (tmp_path / "time.tsv").write_text(COHEN_SIGMA_025.replace("0:00:15.400000", "soon"))
    with pytest.raises(ResultsError, match="time.tsv:2: time must be seconds"):
        read_run(str(tmp_path / "time.tsv"))


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
