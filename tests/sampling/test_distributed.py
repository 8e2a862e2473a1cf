"""Sharded runs under torchrun (gloo, CPU): by sample (the API's distributed=True) and by input (the
rsmooth command) give results identical, row for row, to a single process; a killed sharded run
resumes; a dead rank fails the run instead of hanging it."""

import os
import signal
import subprocess
import textwrap
import time

import pytest
import torch
from support.torchrun import torchrun, torchrun_command, torchrun_env

import rsmooth_ext as rs
from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results

pytestmark = pytest.mark.integration  # every test here starts torchrun

MODEL_SOURCE = textwrap.dedent(
    """
    import os
    import torch

    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))

    class DiesOnRank1(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = make()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if os.environ.get("RANK") == "1" and self.calls > 6:
                os._exit(17)
            return self.inner(x)

    def dies():
        return DiesOnRank1()
    """
)

WORKER = textwrap.dedent(
    """
    import sys
    import torch
    import rsmooth_ext as rs
    from rsmooth_ext.sampling import distributed

    assert distributed.init_from_env(timeout_s=120)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x = torch.rand(5, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    noise = rs.Laplace(sigma=0.4)
    counts = rs.sample_counts(model, x, noise, 997, seed=3, batch_size=64, distributed=True)
    res = rs.certify(model, x, noise, 31, 401, 0.01, seed=3, batch_size=50, distributed=True)
    soft = rs.predict_soft(model, x, noise, 101, seed=3, distributed=True)
    pred = rs.predict(model, x, noise, 301, 0.01, seed=None if False else 4, distributed=True)
    out = {"counts": counts, "prediction": res.prediction, "radius": res.radius, "soft": soft, "pred": pred}
    gathered = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, out)
    if torch.distributed.get_rank() == 0:
        torch.save(gathered, sys.argv[1])
    distributed.shutdown()
    """
)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "distmodel.py").write_text(MODEL_SOURCE)
    (tmp_path / "worker.py").write_text(WORKER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    x = torch.rand(7, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    torch.save({"x": x, "y": torch.tensor([0, 1, 2, 0, 1, 2, 0])}, tmp_path / "data.pt")
    return tmp_path


def test_api_sharded_by_sample_equals_single_process(workdir):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x = torch.rand(5, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    noise = rs.Laplace(sigma=0.4)
    single = {
        "counts": rs.sample_counts(model, x, noise, 997, seed=3),
        "res": rs.certify(model, x, noise, 31, 401, 0.01, seed=3),
        "soft": rs.predict_soft(model, x, noise, 101, seed=3),
        "pred": rs.predict(model, x, noise, 301, 0.01, seed=4),
    }
    for nproc in (2, 3):
        run = torchrun(nproc, ["worker.py", "out.pt"], workdir)
        assert run.returncode == 0, run.stderr[-3000:]
        for out in torch.load(workdir / "out.pt", weights_only=False):  # every rank holds the full result
            assert torch.equal(out["counts"], single["counts"])
            assert torch.equal(out["prediction"], single["res"].prediction)
            assert torch.equal(out["radius"], single["res"].radius)
            assert torch.allclose(out["soft"], single["soft"], atol=1e-6)
            assert torch.equal(out["pred"], single["pred"])


BASE = ["--model", "distmodel:make", "--data", "data.pt", "--n0", "20", "--num-samples", "300", "--batch-size", "64",
        "--quiet", "--sigma", "0.3", "--device", "cpu"]


def rows(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_results(str(path)).rows]


@pytest.mark.parametrize("nproc,shard", [(2, "inputs"), (3, "inputs"), (2, "samples")])
def test_cli_sharded_runs_equal_single_process(workdir, nproc, shard):
    assert main(["certify", *BASE, "--out", "single.tsv"]) == 0
    run = torchrun(nproc, ["-m", "rsmooth_ext", "certify", *BASE, "--shard", shard, "--out", "sharded.tsv"], workdir)
    assert run.returncode == 0, run.stderr[-3000:]
    assert rows(workdir / "sharded.tsv") == rows(workdir / "single.tsv")
    assert not list(workdir.glob("sharded.tsv.part*"))
    assert (workdir / "sharded.json").exists()


def test_killed_sharded_run_resumes(workdir):
    # --n0 64 = --batch-size: one example per call (rows are written per call: with several examples per call
    # the whole shard could be one call, finishing or killed before its first row)
    args = ["-m", "rsmooth_ext", "certify", *BASE, "--n0", "64", "--num-samples", "100000", "--out", "r.tsv"]
    proc = subprocess.Popen(torchrun_command(2, args), cwd=workdir, env=torchrun_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            parts = list(workdir.glob("r.tsv.part*"))
            if sum(max(0, len(p.read_text().splitlines()) - 2) for p in parts) >= 2:
                break
            time.sleep(0.1)
    finally:
        finished_before_kill = proc.poll() is not None
        if not finished_before_kill:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not finished_before_kill, "the run finished before it could be killed"
    assert list(workdir.glob("r.tsv.part*")), "no shard was written before the kill"
    resumed = torchrun(2, [*args, "--resume"], workdir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert main(["certify", *BASE, "--n0", "64", "--num-samples", "100000", "--out", "clean.tsv"]) == 0
    assert rows(workdir / "r.tsv") == rows(workdir / "clean.tsv")


def test_dead_rank_fails_the_run_and_rows_are_kept(workdir):
    args = ["-m", "rsmooth_ext", "certify", *BASE, "--model", "distmodel:dies", "--dist-timeout", "20",
            "--out", "d.tsv"]
    start = time.time()
    run = torchrun(2, args, workdir)
    assert run.returncode != 0
    assert time.time() - start < 120
    kept = sum(max(0, len(p.read_text().splitlines()) - 2) for p in workdir.glob("d.tsv.part*"))
    assert kept >= 1
    # the failure torchrun reports is the dead rank (exit 17), and it stopped the surviving rank
    assert "rank      : 1 (local_rank: 1)" in run.stderr and "exitcode  : 17" in run.stderr
    # the same configuration resumes, here in a single process (where the model does not die)
    assert main(["certify", *BASE, "--model", "distmodel:dies", "--out", "d.tsv", "--resume"]) == 0
    assert not list(workdir.glob("d.tsv.part*"))
    assert main(["certify", *BASE, "--out", "clean.tsv"]) == 0
    assert rows(workdir / "d.tsv") == rows(workdir / "clean.tsv")
