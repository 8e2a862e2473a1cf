"""rsmooth predict: smoothed predictions only, on the tiny run of the certify tests."""

import json

import pytest

from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results


def test_predict_writes_rows_and_summary(workdir, base, capsys):
    assert main(["predict", *[a for a in base if a not in ("--n0", "20")], "--out", "p.tsv"]) == 0
    assert read_results("p.tsv").columns == ["index", "label", "prediction", "correct", "seconds"]
    summary = json.loads((workdir / "p.json").read_text())
    assert summary["examples"] == 6 and "certified_accuracy" not in summary and summary["config"]["n"] == 100
    assert "6 examples: smoothed accuracy" in capsys.readouterr().out


def test_predict_has_no_certify_options(workdir, base, capsys):
    with pytest.raises(SystemExit):
        main(["predict", *base, "--out", "p.tsv"])  # base holds --n0
    assert "unrecognized arguments: --n0 20" in capsys.readouterr().err


def test_several_examples_per_call_give_the_rows_of_one_per_call(workdir, base, rows_without_time, monkeypatch):
    """--n 100 --batch-size 300: three examples per call; the rows are those of one example per call."""
    from rsmooth_ext.cli import running

    args = [*[a for a in base if a not in ("--n0", "20")], "--batch-size", "300"]
    assert running.examples_per_call(running.argparse.Namespace(n=100, batch_size=300), "predict") == 3
    assert main(["predict", *args, "--out", "grouped.tsv"]) == 0
    monkeypatch.setattr(running, "examples_per_call", lambda args, kind: 1)
    assert main(["predict", *args, "--out", "single.tsv"]) == 0
    assert rows_without_time("grouped.tsv") == rows_without_time("single.tsv")
