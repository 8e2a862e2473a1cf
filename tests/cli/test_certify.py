"""rsmooth certify end to end on tiny settings: rows and summary, resume (also of a killed process),
one-line errors, never overwriting, --sequential, --skip-misclassified, --amp / --compile / --fast, and
Cohen's spellings of the options."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results


def test_certify_writes_rows_and_summary(workdir, base, rows_without_time):
    assert main(["certify", *base, "--weights", "w.pt", "--out", "r.tsv"]) == 0
    results = read_results("r.tsv")
    assert results.columns == ["index", "label", "prediction", "p_lower", "radius", "correct", "seconds"]
    assert [r["index"] for r in results.rows] == list(range(6))
    summary = json.loads((workdir / "r.json").read_text())
    assert summary["examples"] == 6 and "certified_accuracy" in summary and summary["config"]["n"] == 100
    assert main(["certify", *base, "--data", "data.npz", "--out", "r2.tsv"]) == 0
    assert rows_without_time("r2.tsv") == rows_without_time("r.tsv")
    assert main(["certify", *base, "--channels-last", "--batch-size", "7", "--out", "r3.tsv"]) == 0
    assert rows_without_time("r3.tsv") == rows_without_time("r.tsv")


def test_interrupted_run_resumes_to_the_same_rows(workdir, base, rows_without_time):
    assert main(["certify", *base, "--out", "full.tsv"]) == 0
    assert main(["certify", *base, "--out", "part.tsv", "--limit", "2"]) == 0
    with open("part.tsv", "a") as f:
        f.write("2\t2\t1\t0.3")  # a row cut off mid-write
    assert main(["certify", *base, "--out", "part.tsv", "--resume"]) == 0
    assert rows_without_time("part.tsv") == rows_without_time("full.tsv")


@pytest.mark.integration
def test_killed_process_resumes(workdir, base, rows_without_time):
    """A real interruption: kill the process after its first rows, then --resume."""
    cmd = [sys.executable, "-m", "rsmooth_ext", "certify", *base, "--n", "3000", "--out", "killed.tsv"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if os.path.exists(workdir / "killed.tsv") and len(open(workdir / "killed.tsv").read().splitlines()) >= 3:
                break
            proc.poll()
            if proc.returncode is not None:
                break
            import time

            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert main(["certify", *base, "--n", "3000", "--out", "killed.tsv", "--resume"]) == 0
    assert main(["certify", *base, "--n", "3000", "--out", "clean.tsv"]) == 0
    assert rows_without_time("killed.tsv") == rows_without_time("clean.tsv")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--data", "missing.pt"], "data missing.pt does not exist"),
        (["--model", "nosuchmodule:make"], "cannot import model module 'nosuchmodule'"),
        (["--model", "climodel:broken"], "model factory climodel:broken failed: RuntimeError: no such weights"),
        (["--model", "climodel:make", "--weights", "nope.pt"], "weights file nope.pt does not exist"),
        (["--data", "bad_shape.pt"], "the model cannot take inputs of shape (5,)"),
        (["--data", "bad_labels.pt"], "labels must lie in [0, 3) for a model with 3 outputs; found 0..7"),
        (["--out", "/proc/rsmooth-results.tsv"], "output directory /proc is not writable"),
        (["--out", "no/such/dir/r.tsv"], "does not exist"),
        (["--noise", "exp2", "--adversary", "l0"], "no guaranteed certificate for Exp2 against l0"),
        (["--n", "0"], "--n must be >= 1, got 0"),
        (["--alpha", "2"], "--alpha must be in (0, 1), got 2.0"),
    ],
)
def test_errors_are_one_line_exit_2_and_leave_no_file(workdir, base, capsys, args, message):
    torch.save({"x": torch.rand(4, 5), "y": torch.zeros(4, dtype=torch.long)}, "bad_shape.pt")
    torch.save({"x": torch.rand(4, 3, 2, 2), "y": torch.tensor([0, 1, 7, 2])}, "bad_labels.pt")
    argv = ["certify", *base, "--out", "err.tsv"]
    for i in range(0, len(args), 2):
        flag = args[i]
        if flag in argv:
            argv[argv.index(flag) + 1] = args[i + 1]
        else:
            argv += args[i : i + 2]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rsmooth: error: ") and message in err and "\n" not in err
    assert not (workdir / "err.tsv").exists()


def test_existing_results_are_never_overwritten(workdir, base, capsys):
    assert main(["certify", *base, "--out", "r.tsv"]) == 0
    before = (workdir / "r.tsv").read_text()
    assert main(["certify", *base, "--out", "r.tsv"]) == 2
    assert "already exists; use --resume" in capsys.readouterr().err
    assert main(["certify", *base, "--sigma", "0.5", "--out", "r.tsv", "--resume"]) == 2
    assert "different configuration (noise_repr, sigma differ)" in capsys.readouterr().err
    assert (workdir / "r.tsv").read_text() == before


SEQ = ["--sequential", "--n-max", "2000", "--first-look", "100", "--group-size", "4"]


def test_sequential_certify_resumes_and_reports_forward_passes(workdir, base, rows_without_time, capsys):
    grid = ["--radii", "0,0.1,0.2"]
    assert main(["certify", *base, *SEQ, *grid, "--out", "s.tsv"]) == 0
    out = capsys.readouterr().out
    results = read_results("s.tsv")
    assert results.columns == ["index", "label", "prediction", "p_lower", "radius", "correct", "samples", "seconds"]
    assert results.config["sequential"] and results.config["radii"] == [0.0, 0.1, 0.2]
    samples = results.column("samples")
    assert ((samples >= 100) & (samples <= 2000)).all() and set(results.column("radius")) <= {0.0, 0.1, 0.2}
    summary = json.loads((workdir / "s.json").read_text())
    assert summary["forward_passes"]["total"] == int(samples.sum()) + 20 * 6
    assert list(summary["certified_accuracy"]) == ["0", "0.1", "0.2"]
    assert f"forward passes: {int(samples.sum()) + 120} in total" in out
    # the same rows from an interrupted run (groups of other sizes) continued with --resume
    assert main(["certify", *base, *SEQ, *grid, "--out", "part.tsv", "--limit", "3"]) == 0
    assert main(["certify", *base, *SEQ, *grid, "--out", "part.tsv", "--resume", "--group-size", "4"]) == 0
    assert rows_without_time("part.tsv") == rows_without_time("s.tsv")
    # the grid is part of the configuration
    assert main(["certify", *base, *SEQ, "--radii", "0,0.1", "--out", "part.tsv", "--resume"]) == 2
    assert "radii differ" in capsys.readouterr().err
    assert main(["certify", *base, *SEQ, "--rtol", "0.2", "--out", "t.tsv"]) == 0
    assert read_results("t.tsv").config["rtol"] == 0.2


def test_skip_misclassified_keeps_the_table(workdir, base):
    assert main(["certify", *base, "--out", "full.tsv"]) == 0
    assert main(["certify", *base, "--skip-misclassified", "--out", "skip.tsv"]) == 0
    full, skip = read_results("full.tsv"), read_results("skip.tsv")
    assert skip.config["skip_misclassified"] and "skip_misclassified" not in full.config
    skipped = [r for r in skip.rows if math.isnan(r["p_lower"])]
    assert skipped and all(r["prediction"] != r["label"] and math.isnan(r["radius"]) for r in skipped)
    for a, b in zip(full.rows, skip.rows):
        if not math.isnan(b["p_lower"]):
            assert (a["prediction"], a["radius"]) == (b["prediction"], b["radius"])
    f, s = json.loads((workdir / "full.json").read_text()), json.loads((workdir / "skip.json").read_text())
    for key in ("accuracy", "average_certified_radius", "certified_accuracy"):
        assert f[key] == s[key]


@pytest.mark.parametrize("args,message", [
    (["--radii", "0,0.5"], "--radii needs --sequential"),
    (["--sequential", "--radii", "0.5,0.1"], "--radii must be finite, >= 0 and strictly increasing"),
    (["--sequential", "--radii", "a,b"], "--radii must be comma-separated numbers, got 'a,b'"),
    (["--sequential", "--rtol", "0"], "--rtol must be in (0, 1), got 0.0"),
    (["--sequential", "--n-max", "0"], "--n-max must be >= 1, got 0"),
    (["--sequential", "--growth", "1"], "--growth must be > 1, got 1.0"),
    (["--sequential", "--futility", "1"], "--futility must be in (0, 1), got 1.0"),
])
def test_sequential_option_errors(workdir, base, capsys, args, message):
    assert main(["certify", *base, *args, "--out", "e.tsv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rsmooth: error: ") and message in err
    assert not (workdir / "e.tsv").exists()


@pytest.mark.integration
def test_compile_matches_eager(workdir, base, rows_without_time):
    assert main(["certify", *base, "--out", "eager.tsv"]) == 0
    assert main(["certify", *base, "--compile", "--out", "compiled.tsv"]) == 0
    eager, compiled = rows_without_time("eager.tsv"), rows_without_time("compiled.tsv")
    assert [r["prediction"] for r in compiled] == [r["prediction"] for r in eager]
    assert max(abs(a["p_lower"] - b["p_lower"]) for a, b in zip(compiled, eager)) < 0.05  # flips at most


def test_amp_and_fast_options(workdir, base, capsys):
    assert main(["certify", *base, "--amp", "bf16", "--out", "amp.tsv"]) == 0
    assert json.loads((workdir / "amp.json").read_text())["config"]["amp"] == "bf16"
    capsys.readouterr()
    assert main(["certify", *base, "--fast", "--dtype", "float16", "--out", "bad.tsv"]) == 2
    assert "--dtype float16 cannot be added" in capsys.readouterr().err
    assert not os.path.exists("bad.tsv")


def test_cohen_spellings_give_the_same_run(workdir, base, rows_without_time):
    """--N0 --N --batch (Cohen's certify.py) are --n0 --n --batch-size: same rows, same configuration."""
    assert main(["certify", *base, "--out", "ours.tsv"]) == 0
    cohen = [{"--n0": "--N0", "--n": "--N", "--batch-size": "--batch"}.get(a, a) for a in base]
    assert main(["certify", *cohen, "--out", "cohen.tsv"]) == 0
    assert rows_without_time("cohen.tsv") == rows_without_time("ours.tsv")
    assert read_results("cohen.tsv").config == read_results("ours.tsv").config


def test_the_certify_table_is_the_analyze_table(workdir, base, capsys):
    """The end-of-run table is analyze's (one implementation), on the summary's radius grid."""
    assert main(["certify", *base, "--out", "r.tsv"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((workdir / "r.json").read_text())
    radii = ",".join(summary["certified_accuracy"])
    assert main(["analyze", "r.tsv", "--radii", radii]) == 0
    table = capsys.readouterr().out.split("\ncertified accuracy at r")[0]
    assert table in printed and "| gaussian sigma=0.3 |" in table
    assert f"6 examples: smoothed accuracy {summary['accuracy']:.3f}, abstained " in printed


def test_fast_prints_its_choice_and_certifies_with_it(workdir, base, rows_without_time, capsys, monkeypatch):
    """--fast times the candidates (here a fake measurement that makes channels_last fastest and offers no
    bf16), prints one line, and certifies as the chosen options given explicitly."""
    from rsmooth_ext.sampling import tuning

    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(workdir / "cache"))
    tuning.clear_process_cache()
    monkeypatch.setattr(tuning, "_mkldnn_supported", lambda name: False)
    costs = {"eager": 2e-3, "channels_last": 1e-3, "compile+channels_last": 3e-3, "compile": 4e-3}
    monkeypatch.setattr(tuning, "measure_candidate", lambda m, x1, n, c, **k: costs[c.name])
    assert main(["certify", *base, "--fast", "--out", "fast.tsv"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fast: ")]
    assert lines == ["fast: channels_last, 2.00x eager; per batch of 64 rows: channels_last 1 ms, eager 2 ms, "
                     "compile+channels_last 3 ms, compile 4 ms"]
    assert main(["certify", *base, "--channels-last", "--out", "explicit.tsv"]) == 0
    assert rows_without_time("fast.tsv") == rows_without_time("explicit.tsv")
    assert main(["info"]) == 0
    info = capsys.readouterr().out
    assert "--fast:     1 cached choice(s):" in info and "channels_last for " in info
    tuning.clear_process_cache()


def test_sequential_with_top2_and_amp_writes_p_b_and_resumes(workdir, base, rows_without_time):
    args = [*base, *SEQ, "--radii", "0,0.1,0.2", "--top2", "--amp", "bf16"]
    assert main(["certify", *args, "--out", "s.tsv"]) == 0
    results = read_results("s.tsv")
    assert results.columns == ["index", "label", "prediction", "p_lower", "p_upper_others", "radius", "correct",
                               "samples", "seconds"]
    assert results.config["top2"] and results.config["amp"] == "bf16"
    for row in results.rows:
        assert (row["prediction"] != -1) == (row["p_lower"] > row["p_upper_others"])
    assert main(["certify", *args, "--out", "p.tsv", "--limit", "2"]) == 0
    assert main(["certify", *args, "--out", "p.tsv", "--resume"]) == 0
    assert rows_without_time("p.tsv") == rows_without_time("s.tsv")
    assert main(["certify", *base, "--top2", "--out", "t.tsv"]) == 0
    assert "p_upper_others" in read_results("t.tsv").columns


@pytest.mark.parametrize("extra", [[], ["--skip-misclassified"], ["--top2"]])
def test_several_examples_per_call_give_the_rows_of_one_per_call(workdir, base, rows_without_time, monkeypatch,
                                                                  extra):
    from rsmooth_ext.cli import running

    assert running.examples_per_call(running.argparse.Namespace(n0=20, n=100, batch_size=64), "certify") == 3
    assert main(["certify", *base, *extra, "--out", "grouped.tsv"]) == 0
    monkeypatch.setattr(running, "examples_per_call", lambda args, kind: 1)
    assert main(["certify", *base, *extra, "--out", "single.tsv"]) == 0
    assert repr(rows_without_time("grouped.tsv")) == repr(rows_without_time("single.tsv"))  # NaN == NaN
