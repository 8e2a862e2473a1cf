"""rsmooth certify --checkpoint FORMAT:PATH end to end, one command per format, on data as users have it
(CIFAR batches, MNIST idx files, an ImageFolder, .pt), and the one-line errors for wrong formats and data."""

import os

import pytest
import torch
from support.fabricate import (
    CIFAR_LABELS,
    CIFAR_MEAN,
    CIFAR_STD,
    MNIST_IMAGES,
    MNIST_LABELS,
    Rs4aLikeForecaster,
    data_parallel,
    idx_bytes,
    save_cohen,
    write_cifar,
    write_png,
)
from torch import nn

from rsmooth_ext.cli import main
from rsmooth_ext.cli.results import read_results
from rsmooth_ext.models import CifarResNet, LeNet, NormalizeLayer, WideResNet

torchvision = pytest.importorskip("torchvision")

SAMPLING = ["--n0", "10", "--n", "50", "--batch-size", "64", "--quiet", "--sigma", "0.25"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_cifar(str(tmp_path / "cifar" / "cifar-10-batches-py" / "test_batch"))
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(MNIST_IMAGES))
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(MNIST_LABELS))
    return tmp_path


def certify(*args):
    return main(["certify", *args, *SAMPLING])


def rows(path):
    return read_results(str(path)).rows


def test_cohen_cifar_checkpoint_on_cifar_batches_with_skip_and_max(workdir):
    save_cohen("checkpoint.pth.tar", "cifar_resnet20", NormalizeLayer(CIFAR_MEAN, CIFAR_STD), CifarResNet(20))
    assert certify("--checkpoint", "cohen:checkpoint.pth.tar", "--data", "cifar", "--skip", "2", "--max", "5",
                   "--out", "r.tsv") == 0
    results = read_results("r.tsv")
    assert [r["index"] for r in results.rows] == [0, 2, 4]  # dataset indices, as Cohen's idx column
    assert [r["label"] for r in results.rows] == [CIFAR_LABELS[i] for i in (0, 2, 4)]
    assert results.config["checkpoint"] == "cohen:checkpoint.pth.tar" and results.config["skip"] == 2
    # an interrupted run (here: --limit) resumes to the same rows
    assert certify("--checkpoint", "cohen:checkpoint.pth.tar", "--data", "cifar", "--skip", "2", "--max", "5",
                   "--out", "part.tsv", "--limit", "1") == 0
    assert certify("--checkpoint", "cohen:checkpoint.pth.tar", "--data", "cifar", "--skip", "2", "--max", "5",
                   "--out", "part.tsv", "--resume") == 0
    drop = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert drop(rows("part.tsv")) == drop(results.rows)


def test_smoothadv_checkpoint_with_normalization_override(workdir):
    save_cohen("sa.pth.tar", "cifar_resnet20", nn.Identity(), CifarResNet(20))
    torch.save({"inputs": torch.rand(2, 3, 32, 32), "labels": torch.tensor([1, 2])}, "d.pt")
    for normalization in ([], ["--normalization", "normalize"]):
        out = f"sa{len(normalization)}.tsv"
        assert certify("--checkpoint", "smoothadv:sa.pth.tar", *normalization, "--data", "d.pt", "--out", out) == 0
        assert len(rows(out)) == 2


def test_macer_lenet_on_mnist_idx(workdir):
    torch.save({"net": LeNet().state_dict(), "epoch": 20}, "mnist.pth")
    assert certify("--checkpoint", "macer:mnist.pth", "--data", "mnist", "--max", "2", "--out", "m.tsv") == 0
    assert [r["label"] for r in rows("m.tsv")] == MNIST_LABELS[:2].tolist()


def test_rs4a_wrn40_2_on_cifar(workdir):
    torch.save(Rs4aLikeForecaster(WideResNet(40, 2), CIFAR_MEAN, CIFAR_STD).state_dict(), "model_ckpt.torch")
    assert certify("--checkpoint", "rs4a:model_ckpt.torch", "--data", "cifar/cifar-10-batches-py/test_batch",
                   "--data-format", "cifar", "--max", "1", "--out", "w.tsv") == 0
    assert len(rows("w.tsv")) == 1


def test_cohen_imagenet_resnet50_on_an_image_folder(workdir):
    # tiny images read as they are (resnet50 pools adaptively), so the test stays fast
    for i, synset in enumerate(["n01440764", "n01443537"]):
        write_png(f"val/{synset}/{i}.png", (torch.rand(16, 16, 3) * 255).byte().numpy())
    save_cohen("rn50.pth.tar", "resnet50", nn.Identity(), data_parallel(torchvision.models.resnet50()))
    assert certify("--checkpoint", "cohen:rn50.pth.tar", "--data", "val", "--data-format", "imagefolder",
                   "--skip", "1", "--max", "1", "--out", "i.tsv") == 0
    assert [r["label"] for r in rows("i.tsv")] == [0]


def test_plain_torchvision_state_dict(workdir):
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), "r18.pt")
    torch.save({"x": torch.rand(2, 3, 16, 16), "y": torch.tensor([0, 2])}, "d.pt")
    assert certify("--checkpoint", "plain:r18.pt", "--arch", "torchvision:resnet18", "--normalization", "normalize",
                   "--dataset", "imagenet", "--data", "d.pt", "--out", "p.tsv") == 0
    config = read_results("p.tsv").config
    assert (config["arch"], config["normalization"], config["dataset"]) == ("torchvision:resnet18", "normalize",
                                                                           "imagenet")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--checkpoint", "checkpoint.pth.tar"], "--checkpoint must be FORMAT:PATH with FORMAT one of cohen, "),
        (["--checkpoint", "caffe:checkpoint.pth.tar"], "--checkpoint must be FORMAT:PATH"),
        (["--checkpoint", "macer:checkpoint.pth.tar"], "is not a macer checkpoint: expected a dict with 'net'"),
        (["--checkpoint", "plain:checkpoint.pth.tar", "--arch", "cifar_resnet20"], "this looks like cohen"),
        (["--checkpoint", "cohen:missing.pth.tar"], "checkpoint missing.pth.tar does not exist"),
        (["--checkpoint", "cohen:checkpoint.pth.tar", "--weights", "w.pt"], "--weights applies to --model"),
        (["--checkpoint", "cohen:checkpoint.pth.tar", "--data", "big.pt"],
         "range over [0, 255], not [0, 1]: the noise is added to images in [0, 1] and the normalization"),
        (["--model", "x:y", "--arch", "lenet"], "--arch applies to --checkpoint, not to --model"),
        (["--checkpoint", "cohen:checkpoint.pth.tar", "--data", "cifar", "--skip", "0"], "--skip must be >= 1, got 0"),
        (["--checkpoint", "cohen:checkpoint.pth.tar", "--data", "cifar", "--max", "-1"], "--max must be >= 1, got -1"),
    ],
)
def test_errors_are_one_line_and_leave_no_file(workdir, capsys, args, message):
    save_cohen("checkpoint.pth.tar", "cifar_resnet20", NormalizeLayer(CIFAR_MEAN, CIFAR_STD), CifarResNet(20))
    torch.save({"x": torch.full((2, 3, 32, 32), 255.0).index_fill_(0, torch.tensor([0]), 0.0),
                "y": torch.tensor([0, 1])}, "big.pt")
    argv = [*args] + ([] if "--data" in args else ["--data", "cifar"])
    capsys.readouterr()
    assert certify(*argv, "--out", "err.tsv") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rsmooth: error: ") and message in err and "\n" not in err
    assert not os.path.exists("err.tsv")


def test_model_and_checkpoint_are_exclusive(workdir, capsys):
    with pytest.raises(SystemExit):
        certify("--model", "x:y", "--checkpoint", "cohen:c.pth", "--data", "cifar", "--out", "e.tsv")
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        certify("--data", "cifar", "--out", "e.tsv")
    assert "one of the arguments --model --checkpoint is required" in capsys.readouterr().err


def test_out_of_range_data_only_warns_for_a_model_factory(workdir, capsys, monkeypatch):
    (workdir / "factory.py").write_text("import torch\n\ndef make():\n    return torch.nn.Sequential("
                                        "torch.nn.Flatten(), torch.nn.Linear(3, 2))\n")
    monkeypatch.syspath_prepend(str(workdir))
    torch.save({"x": torch.randn(2, 3) * 3, "y": torch.tensor([0, 1])}, "features.pt")
    assert certify("--model", "factory:make", "--data", "features.pt", "--out", "f.tsv") == 0
    assert "rsmooth: warning: inputs in features.pt range over" in capsys.readouterr().err
