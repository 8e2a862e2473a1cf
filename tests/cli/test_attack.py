"""rsmooth attack: the per-example, per-eps results file, agreement with rsmooth predict at eps 0, resume, and
its errors."""

import json

import pytest

from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results

ATTACK = ["--eps", "0,0.5,2", "--steps", "4", "--m", "8"]


def test_attack_writes_one_row_per_example_and_eps(workdir, base, capsys):
    common = [a for a in base if a not in ("--n0", "20")]
    assert main(["attack", *common, *ATTACK, "--out", "a.tsv"]) == 0
    printed = capsys.readouterr().out
    assert "| eps (l2) | empirical robust accuracy |" in printed
    results = read_results("a.tsv")
    assert results.columns == ["index", "label", "eps", "prediction", "correct", "seconds"]
    assert [(r["index"], r["eps"]) for r in results.rows] == [(i, e) for i in range(6) for e in (0.0, 0.5, 2.0)]
    assert all(r["correct"] == int(r["prediction"] == r["label"]) for r in results.rows)
    assert results.config["command"] == "attack" and results.config["eps"] == [0.0, 0.5, 2.0]
    summary = json.loads((workdir / "a.json").read_text())
    assert set(summary["empirical"]) == {"0", "0.5", "2"}
    # at eps 0 the adversarial input is the input: the predictions are rsmooth predict's (same seed, n, alpha)
    assert main(["predict", *common, "--out", "p.tsv"]) == 0
    clean = {r["index"]: r["prediction"] for r in read_results("p.tsv").rows}
    assert {r["index"]: r["prediction"] for r in results.rows if r["eps"] == 0} == clean
    # the attack lowers the empirical accuracy on this undefended linear model
    assert summary["empirical"]["2"]["robust_accuracy"] < summary["empirical"]["0"]["robust_accuracy"]


def test_attack_resumes_where_it_stopped(workdir, base, rows_without_time):
    common = [a for a in base if a not in ("--n0", "20")]
    assert main(["attack", *common, *ATTACK, "--out", "full.tsv"]) == 0
    assert main(["attack", *common, *ATTACK, "--limit", "2", "--out", "part.tsv"]) == 0
    with open("part.tsv", "a") as f:
        f.write("2\t2\t0.0\t")  # an interrupted write
    assert main(["attack", *common, *ATTACK, "--resume", "--out", "part.tsv"]) == 0
    assert rows_without_time("part.tsv") == rows_without_time("full.tsv")
    assert main(["attack", *common, "--eps", "0,1", "--resume", "--out", "part.tsv"]) == 2  # another configuration


@pytest.mark.parametrize("extra,message", [
    (["--eps", "0.5,0.25"], "--eps must be increasing numbers >= 0"),
    (["--eps", "a"], "--eps must be comma-separated numbers"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--m", "0"], "--m must be >= 1"),
    (["--step-size", "-1"], "--step-size must be a finite number > 0"),
    (["--method", "ddn", "--norm", "linf"], "--method ddn is an l2 attack"),
    (["--n", "0"], "--n must be >= 1"),
])
def test_attack_errors(workdir, base, capsys, extra, message):
    common = [a for a in base if a not in ("--n0", "20")]
    assert main(["attack", *common, *extra, "--out", "a.tsv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rsmooth: error: ") and message in err
    assert not (workdir / "a.tsv").exists()


def test_attack_refuses_to_overwrite(workdir, base, capsys):
    common = [a for a in base if a not in ("--n0", "20")]
    (workdir / "a.tsv").write_text("keep me")
    assert main(["attack", *common, "--out", "a.tsv"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (workdir / "a.tsv").read_text() == "keep me"
