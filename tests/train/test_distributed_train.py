"""``rsmooth train`` under torchrun (2 processes, gloo on the CPU): data-parallel training of a smooth model
without BatchNorm equals a single process up to float rounding, with uneven and empty shares of the last
batch; a run resumed under torchrun equals the uninterrupted one; rank 0's checkpoint is Cohen's (no DDP
'module.' prefix) and certifies; a start-up error stops every rank. The share arithmetic is checked in
process.

The equality runs use a tanh network, not LeNet: with ReLU and max-pooling a 1e-8 difference in the weights
(the reduction order) can move an activation across a kink and change a gradient by 1e-3, in one process as
much as in two."""

import os
import sys
import textwrap

import pytest
import torch
from support.torchrun import torchrun

import rsmooth_ext as rs
from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results
from rsmooth_ext.train import train
from rsmooth_ext.train.loop import CHECKPOINT_NAME, LOG_HEADER
from rsmooth_ext.train.sharding import share_of

TRAIN = 37  # the first 33 (--limit): batches 8, 8, 8, 8, 1 (rank 1's share of the last is empty); all 37: 5 last
COMMON = ["--data", "train.pt", "--test-data", "test.pt", "--batch-size", "8", "--lr", "0.05", "--sigma", "0.25",
          "--augment", "crop-flip", "--seed", "1", "--device", "cpu", "--quiet"]
ARGS = ["-m", "rsmooth_ext", "train", "--model", "tanhnet:make", *COMMON]
RESNET = ["-m", "rsmooth_ext", "train", "--arch", "cifar_resnet20", "--data", "cifar_train.pt", "--test-data",
          "cifar_test.pt", "--batch-size", "4", "--sigma", "0.25", "--device", "cpu", "--quiet"]
MODEL_SOURCE = textwrap.dedent(
    """
    import torch

    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 16), torch.nn.Tanh(),
                                   torch.nn.Linear(16, 10))
    """
)


def test_one_process_takes_the_whole_batch_with_weight_one():
    assert share_of(5, distributed=False) == share_of(5, distributed=True)  # no process group: no-op
    share = share_of(5, distributed=False)
    assert (share.rows, share.count, share.weight, share.stand_in) == (slice(0, 5), 5, 1.0, False)


def test_distributed_without_a_process_group_is_one_process():
    def run(distributed):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        g = torch.Generator().manual_seed(1)
        data = (torch.rand(10, 4, generator=g), torch.randint(0, 3, (10,), generator=g))
        train(model, data, data, rs.Gaussian(sigma=0.25), epochs=1, batch_size=4, log=None, progress=False,
              distributed=distributed)
        return model.state_dict()

    alone, asked = run(False), run(True)
    assert all(torch.equal(alone[k], asked[k]) for k in alone)
    with pytest.raises(TypeError, match="distributed must be a bool, got 'yes'"):
        train(torch.nn.Linear(4, 3), data_of(4), data_of(4), rs.Gaussian(sigma=0.25), distributed="yes")


def data_of(dim):
    return torch.rand(6, dim), torch.zeros(6, dtype=torch.int64)


ONE_RANK_FAILS = textwrap.dedent(
    """
    import sys
    import torch
    import rsmooth_ext as rs
    from rsmooth_ext.sampling import distributed
    from rsmooth_ext.train import train

    distributed.init_from_env(timeout_s=60)
    rank = torch.distributed.get_rank()
    data = (torch.rand(6, 4), torch.zeros(6, dtype=torch.int64))
    try:
        train(torch.nn.Linear(4, 3), data, data, rs.Gaussian(sigma=0.25), epochs=2 if rank == 0 else 0, log=None,
              progress=False, distributed=True)
    except ValueError as e:
        print(f"rank {rank}: {type(e).__name__}: {e}", flush=True)
    distributed.shutdown()
    """
)


@pytest.mark.integration
def test_a_start_up_error_on_one_rank_is_raised_on_every_rank(tmp_path):
    (tmp_path / "fails.py").write_text(ONE_RANK_FAILS)
    run = torchrun(2, ["fails.py"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    for rank in (0, 1):
        assert f"rank {rank}: ValueError: epochs must be >= 1, got 0" in run.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp")
    g = torch.Generator().manual_seed(0)
    for name, count, shape in (("train.pt", TRAIN, (1, 28, 28)), ("test.pt", 11, (1, 28, 28)),
                               ("cifar_train.pt", 10, (3, 32, 32)), ("cifar_test.pt", 3, (3, 32, 32))):
        torch.save({"inputs": torch.rand(count, *shape, generator=g),
                    "labels": torch.randint(0, 10, (count,), generator=g)}, path / name)
    (path / "tanhnet.py").write_text(MODEL_SOURCE)
    sys.path.insert(0, str(path))  # the single-process runs import tanhnet (torchrun's start in path: -m)
    yield path
    sys.path.remove(str(path))


def in_dir(path, argv):
    cwd = os.getcwd()
    os.chdir(path)
    try:
        assert main(argv) == 0
    finally:
        os.chdir(cwd)


def single(workdir, out, *extra):
    in_dir(workdir, [*ARGS[2:], "--out", out, *extra])


def ddp(workdir, out, *extra, args=ARGS):
    run = torchrun(2, [*args, "--out", out, *extra], workdir)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def log_rows(path):
    lines = (path / "log").read_text().splitlines()
    assert lines[0] == LOG_HEADER
    return [[float(v) for i, v in enumerate(line.split("\t")) if i != 1] for line in lines[1:]]  # not the time


def weights(path):
    return torch.load(path / CHECKPOINT_NAME, weights_only=True)


def assert_same_run(a, b, epochs):
    rows_a, rows_b = log_rows(a), log_rows(b)
    assert len(rows_a) == len(rows_b) == epochs
    for ra, rb in zip(rows_a, rows_b):
        assert ra == pytest.approx(rb, abs=1e-5)
    wa, wb = weights(a)["state_dict"], weights(b)["state_dict"]
    assert list(wa) == list(wb)
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-5, rtol=0), key


@pytest.fixture(scope="module")
def two_epochs(workdir):
    """The same 2-epoch run on the first 33 examples, in one process and under torchrun."""
    single(workdir, "single", "--epochs", "2", "--limit", "33")
    ddp(workdir, "ddp", "--epochs", "2", "--limit", "33")
    return workdir


@pytest.mark.integration
def test_torchrun_equals_one_process_with_an_empty_last_share(two_epochs):
    assert_same_run(two_epochs / "single", two_epochs / "ddp", 2)
    assert sorted(os.listdir(two_epochs / "ddp")) == [CHECKPOINT_NAME, "log"]  # rank 0 wrote, once


@pytest.mark.integration
def test_torchrun_with_uneven_shares_of_the_last_batch(workdir):
    single(workdir, "single37", "--epochs", "1")
    ddp(workdir, "ddp37", "--epochs", "1")
    assert_same_run(workdir / "single37", workdir / "ddp37", 1)


@pytest.mark.integration
def test_resume_under_torchrun_equals_the_uninterrupted_run(two_epochs):
    ddp(two_epochs, "resumed", "--epochs", "1", "--limit", "33")
    assert weights(two_epochs / "resumed")["epoch"] == 1
    ddp(two_epochs, "resumed", "--epochs", "2", "--limit", "33", "--resume")
    resumed, whole = weights(two_epochs / "resumed"), weights(two_epochs / "ddp")
    assert resumed["epoch"] == whole["epoch"] == 2
    for key, value in whole["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key
    assert log_rows(two_epochs / "resumed") == log_rows(two_epochs / "ddp")


@pytest.mark.integration
def test_the_checkpoint_is_cohens_and_certifies(workdir):
    ddp(workdir, "resnet", "--epochs", "1", args=RESNET)
    saved = weights(workdir / "resnet")
    assert set(saved) >= {"epoch", "arch", "state_dict", "optimizer"} and saved["arch"] == "cifar_resnet20"
    assert not any(key.startswith("module.") for key in saved["state_dict"])
    in_dir(workdir, ["certify", "--checkpoint", f"cohen:{os.path.join('resnet', CHECKPOINT_NAME)}", "--data",
                     "cifar_test.pt", "--n0", "10", "--n", "20", "--sigma", "0.25", "--out", "certify.tsv", "--quiet",
                     "--device", "cpu"])
    assert len(read_results(str(workdir / "certify.tsv")).rows) == 3


@pytest.mark.integration
def test_a_start_up_error_stops_every_rank(workdir):
    run = torchrun(2, [*ARGS, "--out", "nothing", "--epochs", "1", "--resume"], workdir)
    assert run.returncode != 0
    assert "cannot resume" in run.stderr
    assert not (workdir / "nothing").exists()
