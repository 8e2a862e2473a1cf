"""The rsmooth command end to end on tiny settings: certify / predict / plot / resume / errors."""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results

MODEL_SOURCE = textwrap.dedent(
    """
    import torch

    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))

    def broken():
        raise RuntimeError("no such weights")
    """
)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "climodel.py").write_text(MODEL_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 2, 2, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.save({"inputs": x, "labels": y}, tmp_path / "data.pt")
    np.savez(tmp_path / "data.npz", x=x.numpy(), y=y.numpy())
    torch.save(__import__("climodel").make().state_dict(), tmp_path / "w.pt")
    return tmp_path


BASE = ["--model", "climodel:make", "--data", "data.pt", "--n0", "20", "--n", "100", "--batch-size", "64",
        "--quiet", "--sigma", "0.3"]


def rows_without_time(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_results(str(path)).rows]


def test_certify_writes_rows_and_summary(workdir):
    assert main(["certify", *BASE, "--weights", "w.pt", "--out", "r.tsv"]) == 0
    results = read_results("r.tsv")
    assert results.columns == ["index", "label", "prediction", "p_lower", "radius", "correct", "seconds"]
    assert [r["index"] for r in results.rows] == list(range(6))
    summary = json.loads((workdir / "r.json").read_text())
    assert summary["examples"] == 6 and "certified_accuracy" in summary and summary["config"]["n"] == 100
    assert main(["certify", *BASE, "--data", "data.npz", "--out", "r2.tsv"]) == 0
    assert rows_without_time("r2.tsv") == rows_without_time("r.tsv")
    assert main(["certify", *BASE, "--channels-last", "--batch-size", "7", "--out", "r3.tsv"]) == 0
    assert rows_without_time("r3.tsv") == rows_without_time("r.tsv")


def test_interrupted_run_resumes_to_the_same_rows(workdir):
    assert main(["certify", *BASE, "--out", "full.tsv"]) == 0
    assert main(["certify", *BASE, "--out", "part.tsv", "--limit", "2"]) == 0
    with open("part.tsv", "a") as f:
        f.write("2\t2\t1\t0.3")  # a row cut off mid-write
    assert main(["certify", *BASE, "--out", "part.tsv", "--resume"]) == 0
    assert rows_without_time("part.tsv") == rows_without_time("full.tsv")


def test_killed_process_resumes(workdir):
    """A real interruption: kill the process after its first rows, then --resume."""
    cmd = [sys.executable, "-m", "rsmooth_ext", "certify", *BASE, "--n", "3000", "--out", "killed.tsv"]
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
    assert main(["certify", *BASE, "--n", "3000", "--out", "killed.tsv", "--resume"]) == 0
    assert main(["certify", *BASE, "--n", "3000", "--out", "clean.tsv"]) == 0
    assert rows_without_time("killed.tsv") == rows_without_time("clean.tsv")


def test_predict_and_plot(workdir, capsys):
    assert main(["predict", *[a for a in BASE if a not in ("--n0", "20")], "--out", "p.tsv"]) == 0
    assert read_results("p.tsv").columns == ["index", "label", "prediction", "correct", "seconds"]
    assert main(["certify", *BASE, "--out", "a.tsv"]) == 0
    assert main(["certify", *BASE, "--noise", "laplace", "--out", "b.tsv"]) == 0
    capsys.readouterr()
    assert main(["plot", "a.tsv", "b.tsv", "--out", "curves.png"]) == 0
    out = capsys.readouterr().out
    assert "| gaussian sigma=0.3 |" in out and "| laplace sigma=0.3 |" in out
    png = (workdir / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(str(workdir / "curves.png")).ndim == 3


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
def test_errors_are_one_line_exit_2_and_leave_no_file(workdir, capsys, args, message):
    torch.save({"x": torch.rand(4, 5), "y": torch.zeros(4, dtype=torch.long)}, "bad_shape.pt")
    torch.save({"x": torch.rand(4, 3, 2, 2), "y": torch.tensor([0, 1, 7, 2])}, "bad_labels.pt")
    argv = ["certify", *BASE, "--out", "err.tsv"]
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


def test_existing_results_are_never_overwritten(workdir, capsys):
    assert main(["certify", *BASE, "--out", "r.tsv"]) == 0
    before = (workdir / "r.tsv").read_text()
    assert main(["certify", *BASE, "--out", "r.tsv"]) == 2
    assert "already exists; use --resume" in capsys.readouterr().err
    assert main(["certify", *BASE, "--sigma", "0.5", "--out", "r.tsv", "--resume"]) == 2
    assert "different configuration (noise_repr, sigma differ)" in capsys.readouterr().err
    assert (workdir / "r.tsv").read_text() == before


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


SEQ = ["--sequential", "--n-max", "2000", "--first-look", "100", "--group-size", "4"]


def test_sequential_certify_resumes_and_reports_forward_passes(workdir, capsys):
    grid = ["--radii", "0,0.1,0.2"]
    assert main(["certify", *BASE, *SEQ, *grid, "--out", "s.tsv"]) == 0
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
    assert main(["certify", *BASE, *SEQ, *grid, "--out", "part.tsv", "--limit", "3"]) == 0
    assert main(["certify", *BASE, *SEQ, *grid, "--out", "part.tsv", "--resume", "--group-size", "4"]) == 0
    assert rows_without_time("part.tsv") == rows_without_time("s.tsv")
    # the grid is part of the configuration
    assert main(["certify", *BASE, *SEQ, "--radii", "0,0.1", "--out", "part.tsv", "--resume"]) == 2
    assert "radii differ" in capsys.readouterr().err
    assert main(["certify", *BASE, *SEQ, "--rtol", "0.2", "--out", "t.tsv"]) == 0
    assert read_results("t.tsv").config["rtol"] == 0.2


def test_skip_misclassified_keeps_the_table(workdir):
    assert main(["certify", *BASE, "--out", "full.tsv"]) == 0
    assert main(["certify", *BASE, "--skip-misclassified", "--out", "skip.tsv"]) == 0
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
def test_sequential_option_errors(workdir, capsys, args, message):
    assert main(["certify", *BASE, *args, "--out", "e.tsv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rsmooth: error: ") and message in err
    assert not (workdir / "e.tsv").exists()


def test_amp_compile_and_fast_options(workdir, capsys):
    assert main(["certify", *BASE, "--out", "eager.tsv"]) == 0
    assert main(["certify", *BASE, "--compile", "--out", "compiled.tsv"]) == 0
    eager, compiled = rows_without_time("eager.tsv"), rows_without_time("compiled.tsv")
    assert [r["prediction"] for r in compiled] == [r["prediction"] for r in eager]
    assert max(abs(a["p_lower"] - b["p_lower"]) for a, b in zip(compiled, eager)) < 0.05  # flips at most
    assert main(["certify", *BASE, "--amp", "bf16", "--out", "amp.tsv"]) == 0
    assert json.loads((workdir / "amp.json").read_text())["config"]["amp"] == "bf16"
    capsys.readouterr()
    assert main(["certify", *BASE, "--fast", "--dtype", "float16", "--out", "bad.tsv"]) == 2
    assert "--dtype float16 cannot be added" in capsys.readouterr().err
    assert not os.path.exists("bad.tsv")
