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
