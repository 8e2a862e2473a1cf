"""``rsmooth train``: runs on CIFAR-shaped tensors and the digits, its checkpoint certifies with --checkpoint
cohen:, --resume continues, and every bad input is one clear error before any step."""

import os

import pytest
import torch

from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results
from rsmooth_ext.train.loop import CHECKPOINT_NAME, LOG_HEADER


@pytest.fixture
def cifar_shaped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g = torch.Generator().manual_seed(0)
    torch.save({"inputs": torch.rand(8, 3, 32, 32, generator=g), "labels": torch.randint(0, 10, (8,), generator=g)},
               "train.pt")
    torch.save({"inputs": torch.rand(3, 3, 32, 32, generator=g), "labels": torch.randint(0, 10, (3,), generator=g)},
               "test.pt")
    return tmp_path


TINY = ["--data", "train.pt", "--test-data", "test.pt", "--epochs", "1", "--batch-size", "4", "--quiet",
        "--sigma", "0.25"]


def test_train_then_certify_the_cohen_checkpoint(cifar_shaped, capsys):
    assert main(["train", "--arch", "cifar_resnet20", "--method", "consistency", "--out", "run", *TINY]) == 0
    log = (cifar_shaped / "run" / "log").read_text().splitlines()
    assert log[0] == LOG_HEADER and len(log) == 2
    checkpoint = f"cohen:{os.path.join('run', CHECKPOINT_NAME)}"
    assert checkpoint in capsys.readouterr().out
    assert main(["certify", "--checkpoint", checkpoint, "--data", "test.pt", "--n0", "10", "--n", "20",
                 "--sigma", "0.25", "--out", "certify.tsv", "--quiet"]) == 0
    assert len(read_results("certify.tsv").rows) == 3
    # --resume with more epochs continues; the first epoch's log row is kept
    assert main(["train", "--arch", "cifar_resnet20", "--method", "consistency", "--out", "run", "--resume",
                 "--data", "train.pt", "--test-data", "test.pt", "--epochs", "2", "--batch-size", "4", "--quiet",
                 "--sigma", "0.25"]) == 0
    assert (cifar_shaped / "run" / "log").read_text().splitlines()[:2] == log
    assert torch.load(cifar_shaped / "run" / CHECKPOINT_NAME, weights_only=True)["epoch"] == 2


@pytest.mark.parametrize("argv, message", [
    (["--method", "macer", "--hp", "gamma=0"], "method macer: hyperparameter gamma must be a number > 0, got 0"),
    (["--method", "gaussian", "--hp", "lambd=3"], "method gaussian has no hyperparameter 'lambd'"),
    (["--hp", "m"], "--hp must look like NAME=VALUE, got 'm'"),
    (["--hp", "m=four"], "--hp m: 'four' is not a number"),
    (["--noise", "exp2", "--j", "5000", "--sigma", "0.5"], "j must satisfy 0 <= j < dim = 3072"),
    (["--method", "macer", "--noise", "masking", "--keep", "0.5"], "method macer cannot train under Masking"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--lr", "-1"], "lr must be > 0, got -1.0"),
    (["--limit", "0"], "--limit must be >= 1, got 0"),
    (["--dist-timeout", "0"], "--dist-timeout must be > 0 seconds, got 0.0"),
])
def test_bad_inputs_are_one_line_errors_before_any_step(cifar_shaped, capsys, argv, message):
    base = ["train", "--arch", "cifar_resnet20", "--out", "bad", "--data", "train.pt", "--test-data", "test.pt",
            "--epochs", "1", "--quiet"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (cifar_shaped / "bad" / CHECKPOINT_NAME).exists()


def test_unknown_method_is_refused_by_the_parser(cifar_shaped, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--arch", "cifar_resnet20", "--out", "bad", *TINY, "--method", "cohen"])
    assert e.value.code == 2
    assert "argument --method: invalid choice: 'cohen'" in capsys.readouterr().err


def test_resume_refuses_a_checkpoint_of_another_arch(cifar_shaped, capsys):
    assert main(["train", "--arch", "cifar_resnet20", "--out", "run", *TINY]) == 0
    assert main(["train", "--arch", "cifar_resnet110", "--out", "run", "--resume", *TINY]) == 2
    assert "holds arch 'cifar_resnet20', this run has arch 'cifar_resnet110'" in capsys.readouterr().err
    assert main(["train", "--arch", "cifar_resnet20", "--out", "run", *TINY]) == 2
    assert "exists: pass resume=True (--resume)" in capsys.readouterr().err


def test_data_without_a_test_split_needs_test_data(cifar_shaped, capsys):
    assert main(["train", "--arch", "cifar_resnet20", "--out", "run", "--data", "train.pt", "--quiet"]) == 2
    assert "--data train.pt has no separate test split: give --test-data" in capsys.readouterr().err


def test_a_model_that_does_not_fit_the_data(cifar_shaped, capsys):
    assert main(["train", "--arch", "lenet", "--out", "run", *TINY]) == 2
    assert "the model cannot take inputs of shape (3, 32, 32)" in capsys.readouterr().err


def test_digits_with_a_model_factory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "rsmooth_ext.demo:digits_cnn", "--data", "digits", "--epochs", "1",
                 "--batch-size", "128", "--lr", "0.01", "--limit", "256", "--test-limit", "64", "--out", "d",
                 "--quiet", "--method", "stability"]) == 0
    assert torch.load(tmp_path / "d" / CHECKPOINT_NAME, weights_only=True)["arch"] == "rsmooth_ext.demo:digits_cnn"
