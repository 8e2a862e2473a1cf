"""Checkpoints of the field's code bases: key layouts (against independent lists of the original names),
each format loaded from a file saved the way its repository saves it, and the errors for wrong formats."""

import pickle
import sys

import pytest
import torch
from support.fabricate import (
    CIFAR_MEAN,
    CIFAR_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Rs4aLikeForecaster,
    data_parallel,
    save_cohen,
)
from torch import nn

from rsmooth_ext.models import (
    CheckpointError,
    CifarResNet,
    LeNet,
    LogScaleNormalization,
    NormalizeLayer,
    WideResNet,
    build_architecture,
    load_checkpoint,
    suggest_format,
)

torchvision = pytest.importorskip("torchvision")

def channels(values):
    return torch.tensor(values).reshape(1, -1, 1, 1)


def rs4a_normalized(x, mean, std):
    """rs4a's NormalizeLayer: (x - mu) / exp(log_sig), log_sig = log(std)."""
    return (x - channels(mean)) / torch.exp(torch.log(channels(std)))


def randomized(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random batch-norm statistics too, so that a wrong normalization or key shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
    return net.eval()


# ---- key layouts, against the names of the original code -------------------------------------------

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def bearpaw_keys(depth):
    """locuslab/smoothing archs/cifar_resnet.py: conv1, bn1, layer1-3 of (depth-2)/6 BasicBlocks, fc."""
    keys = ["conv1.weight"] + [f"bn1.{b}" for b in BN]
    for stage in (1, 2, 3):
        for block in range((depth - 2) // 6):
            p = f"layer{stage}.{block}."
            keys += [p + "conv1.weight"] + [p + f"bn1.{b}" for b in BN]
            keys += [p + "conv2.weight"] + [p + f"bn2.{b}" for b in BN]
            if stage > 1 and block == 0:
                keys += [p + "downsample.0.weight"] + [p + f"downsample.1.{b}" for b in BN]
    return keys + ["fc.weight", "fc.bias"]


def wrn_keys(depth, widen):
    """tonyduan/rs4a lib/wide_resnet.py: conv1, block1-3.layer.i (bn1, conv1, bn2, conv2, convShortcut where the
    width changes), bn1, fc."""
    keys = ["conv1.weight"]
    for stage in (1, 2, 3):
        for block in range((depth - 4) // 6):
            p = f"block{stage}.layer.{block}."
            keys += [p + f"bn1.{b}" for b in BN] + [p + "conv1.weight"] + [p + f"bn2.{b}" for b in BN]
            keys += [p + "conv2.weight"] + ([p + "convShortcut.weight"] if block == 0 else [])
    return keys + [f"bn1.{b}" for b in BN] + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("depth", [20, 110])
def test_cifar_resnet_has_the_bearpaw_key_layout(depth):
    state = CifarResNet(depth).state_dict()
    assert list(state) == bearpaw_keys(depth)
    assert state["layer2.0.downsample.0.weight"].shape == (32, 16, 1, 1)
    assert state["fc.weight"].shape == (10, 64)


def test_cifar_resnet110_and_wrn40_2_parameter_counts():
    # published sizes: ResNet-110 1.7M parameters (He et al.), WRN-40-2 2.2M (Zagoruyko & Komodakis)
    assert round(sum(p.numel() for p in CifarResNet(110).parameters()) / 1e6, 1) == 1.7
    assert round(sum(p.numel() for p in WideResNet(40, 2).parameters()) / 1e6, 1) == 2.2


def test_wide_resnet_has_the_rs4a_key_layout():
    state = WideResNet(40, 2).state_dict()
    assert list(state) == wrn_keys(40, 2)
    assert state["block1.layer.0.convShortcut.weight"].shape == (32, 16, 1, 1)
    assert state["fc.weight"].shape == (10, 128)


def test_lenet_has_the_macer_layout():
    shapes = {k: tuple(v.shape) for k, v in LeNet().state_dict().items()}
    assert shapes == {"conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,), "conv2.weight": (50, 20, 5, 5),
                      "conv2.bias": (50,), "fc1.weight": (500, 800), "fc1.bias": (500,), "fc2.weight": (10, 500),
                      "fc2.bias": (10,)}


def test_normalization_layers_keep_nothing_in_the_state_dict_but_move_with_the_model():
    layer = NormalizeLayer(CIFAR_MEAN, CIFAR_STD)
    assert layer.state_dict() == {}
    x = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(layer(x), (x - channels(CIFAR_MEAN)) / channels(CIFAR_STD))
    assert layer.to(torch.float64)(x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="std must be positive"):
        NormalizeLayer((0.5,), (0.0,))
    assert list(LogScaleNormalization((3, 1, 1)).state_dict()) == ["mu", "log_sig"]


def test_unknown_architecture_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown architecture 'resnet7'.*cifar_resnet20"):
        build_architecture("resnet7")
    with pytest.raises(ValueError, match="depth must be 6n \\+ 2"):
        build_architecture("cifar_resnet21")


# ---- each format, saved the way its repository saves it --------------------------------------------


@pytest.fixture
def x32():
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_cohen_cifar_checkpoint(tmp_path, x32):
    net = randomized(CifarResNet(20))
    save_cohen(tmp_path / "checkpoint.pth.tar", "cifar_resnet20", NormalizeLayer(CIFAR_MEAN, CIFAR_STD), net)
    model = load_checkpoint(str(tmp_path / "checkpoint.pth.tar"), "cohen")
    assert not model.training and list(model.state_dict())[0] == "1.conv1.weight"
    with torch.no_grad():
        torch.testing.assert_close(model(x32), net((x32 - channels(CIFAR_MEAN)) / channels(CIFAR_STD)))


def test_cohen_imagenet_checkpoint_is_dataparallel_resnet50(tmp_path):
    net = randomized(torchvision.models.resnet50())
    wrapped = data_parallel(net)
    save_cohen(tmp_path / "checkpoint.pth.tar", "resnet50", NormalizeLayer(IMAGENET_MEAN, IMAGENET_STD), wrapped)
    assert "1.module.conv1.weight" in torch.load(tmp_path / "checkpoint.pth.tar", weights_only=True)["state_dict"]
    model = load_checkpoint(str(tmp_path / "checkpoint.pth.tar"), "cohen")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net((x - channels(IMAGENET_MEAN)) / channels(IMAGENET_STD)))


@pytest.mark.parametrize("normalization", [None, "normalize", "center", "none"])
def test_smoothadv_checkpoint_centers_by_default_and_the_switch_overrides(tmp_path, x32, normalization):
    net = randomized(CifarResNet(20))
    save_cohen(tmp_path / "c.pth.tar", "cifar_resnet20", nn.Identity(), net)  # InputCenterLayer stores nothing
    model = load_checkpoint(str(tmp_path / "c.pth.tar"), "smoothadv", normalization=normalization)
    expected_input = {None: x32 - channels(CIFAR_MEAN), "center": x32 - channels(CIFAR_MEAN),
                      "normalize": (x32 - channels(CIFAR_MEAN)) / channels(CIFAR_STD), "none": x32}[normalization]
    with torch.no_grad():
        torch.testing.assert_close(model(x32), net(expected_input))


def test_macer_checkpoints_resnet110_and_lenet(tmp_path):
    net = randomized(CifarResNet(110))
    torch.save({"net": net.state_dict(), "epoch": 440}, tmp_path / "440.pth")
    model = load_checkpoint(str(tmp_path / "440.pth"), "macer")
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x))  # no normalization layer
    lenet = randomized(LeNet())
    torch.save({"net": lenet.state_dict(), "epoch": 20}, tmp_path / "mnist.pth")
    model = load_checkpoint(str(tmp_path / "mnist.pth"), "macer")
    assert isinstance(model, LeNet)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), lenet(x))


def test_rs4a_wrn_checkpoint_carries_its_normalization(tmp_path, x32):
    net = randomized(WideResNet(40, 2))
    torch.save(Rs4aLikeForecaster(net, CIFAR_MEAN, CIFAR_STD).state_dict(), tmp_path / "model_ckpt.torch")
    model = load_checkpoint(str(tmp_path / "model_ckpt.torch"), "rs4a")
    with torch.no_grad():
        torch.testing.assert_close(model(x32), net(rs4a_normalized(x32, CIFAR_MEAN, CIFAR_STD)))
    with pytest.raises(CheckpointError, match="carry their own normalization"):
        load_checkpoint(str(tmp_path / "model_ckpt.torch"), "rs4a", normalization="center")


def test_rs4a_imagenet_resnet50(tmp_path):
    net = randomized(torchvision.models.resnet50())
    torch.save(Rs4aLikeForecaster(net, IMAGENET_MEAN, IMAGENET_STD).state_dict(), tmp_path / "model_ckpt.torch")
    model = load_checkpoint(str(tmp_path / "model_ckpt.torch"), "rs4a")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(rs4a_normalized(x, IMAGENET_MEAN, IMAGENET_STD)))


def test_plain_state_dicts_with_an_arch(tmp_path, x32):
    net = randomized(torchvision.models.resnet18(num_classes=7))
    torch.save(net.state_dict(), tmp_path / "r18.pt")
    torch.save(data_parallel(net).state_dict(), tmp_path / "r18_dp.pt")
    for name in ("r18.pt", "r18_dp.pt"):
        model = load_checkpoint(str(tmp_path / name), "plain", arch="torchvision:resnet18")
        with torch.no_grad():
            torch.testing.assert_close(model(x32), net(x32))  # 7 classes read off fc.weight
    model = load_checkpoint(str(tmp_path / "r18.pt"), "plain", arch="torchvision:resnet18",
                            normalization="normalize", dataset="imagenet")
    with torch.no_grad():
        torch.testing.assert_close(model(x32), net((x32 - channels(IMAGENET_MEAN)) / channels(IMAGENET_STD)))
    with pytest.raises(CheckpointError, match="needs the dataset whose statistics"):
        load_checkpoint(str(tmp_path / "r18.pt"), "plain", arch="torchvision:resnet18", normalization="normalize")


def test_timm_architectures_need_timm(tmp_path):
    try:
        import timm  # noqa: F401
    except ImportError:
        torch.save(LeNet().state_dict(), tmp_path / "w.pt")
        with pytest.raises(CheckpointError, match="needs timm"):
            load_checkpoint(str(tmp_path / "w.pt"), "plain", arch="timm:resnet18")
    else:
        net = build_architecture("timm:resnet18", 5)
        torch.save(net.state_dict(), tmp_path / "w.pt")
        model = load_checkpoint(str(tmp_path / "w.pt"), "plain", arch="timm:resnet18")
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 5)


# ---- errors ---------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    """One checkpoint of each format (small networks)."""
    cohen = tmp_path / "cohen.pth.tar"
    save_cohen(cohen, "cifar_resnet20", NormalizeLayer(CIFAR_MEAN, CIFAR_STD), CifarResNet(20))
    macer = tmp_path / "macer.pth"
    torch.save({"net": LeNet().state_dict(), "epoch": 1}, macer)
    rs4a = tmp_path / "rs4a.torch"
    torch.save(Rs4aLikeForecaster(WideResNet(16, 1), CIFAR_MEAN, CIFAR_STD).state_dict(), rs4a)
    dataparallel = tmp_path / "dp.pt"
    torch.save(data_parallel(LeNet()).state_dict(), dataparallel)
    inner = tmp_path / "inner.pt"
    torch.save(torch.load(cohen, weights_only=True)["state_dict"], inner)
    return {k: str(v) for k, v in dict(cohen=cohen, macer=macer, rs4a=rs4a, dp=dataparallel, inner=inner).items()}


@pytest.mark.parametrize(
    "file,format,arch,message",
    [
        ("cohen", "macer", None, "not a macer checkpoint.*found keys 'epoch', 'arch', 'state_dict'.*this looks like "
                                 "cohen \\(NormalizeLayer\\) or smoothadv"),
        ("macer", "cohen", None, "not a cohen checkpoint.*this looks like macer"),
        ("macer", "rs4a", None, "not an rs4a checkpoint.*this looks like macer"),
        ("rs4a", "plain", "wrn16_1", "does not match the plain layout of wrn16_1: \\d+ missing keys \\('conv1.weight'"
                                     ".*unexpected keys \\('norm.module.mu'.*this looks like rs4a"),
        ("rs4a", "cohen", None, "not a cohen checkpoint.*this looks like rs4a"),
        ("dp", "macer", None, "not a macer checkpoint.*this looks like plain with arch \\(a state dict saved from "
                              "nn.DataParallel"),
        ("inner", "plain", "cifar_resnet20", "missing keys.*unexpected keys \\('1.conv1.weight'.*the 'state_dict' "
                                             "entry of a cohen / smoothadv checkpoint"),
        ("cohen", "cohen", "cifar_resnet110", "saved with arch 'cifar_resnet20', but arch 'cifar_resnet110'"),
        ("macer", "plain", "lenet", "not a plain checkpoint: expected a state dict.*this looks like macer"),
    ],
)
def test_wrong_format_says_what_the_file_looks_like(files, file, format, arch, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(files[file], format, arch=arch)


def test_plain_without_arch_that_keys_cannot_tell(tmp_path):
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "lin.pt")
    with pytest.raises(CheckpointError, match="cannot tell the architecture.*'bias', 'weight'.*pass arch"):
        load_checkpoint(str(tmp_path / "lin.pt"), "plain")


def test_strict_matching_lists_missing_unexpected_and_reshaped_keys(tmp_path):
    good = nn.Sequential(NormalizeLayer(CIFAR_MEAN, CIFAR_STD), CifarResNet(20)).state_dict()
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "1.fc.bias"}, "1 missing keys \\('1.fc.bias'\\)"),
        "unexpected": ({**good, "1.extra.weight": torch.zeros(1)}, "1 unexpected keys \\('1.extra.weight'\\)"),
        "reshaped": ({**good, "1.conv1.weight": torch.zeros(16, 3, 5, 5)},
                     "1 keys of another shape \\(1.conv1.weight: \\(16, 3, 5, 5\\) in the file, \\(16, 3, 3, 3\\)"),
    }
    for name, (state, message) in cases.items():
        torch.save({"epoch": 1, "arch": "cifar_resnet20", "state_dict": state}, tmp_path / f"{name}.pth.tar")
        with pytest.raises(CheckpointError, match="does not match the cohen layout of cifar_resnet20: " + message):
            load_checkpoint(str(tmp_path / f"{name}.pth.tar"), "cohen")


def test_pickled_models_are_refused_without_running_their_code(tmp_path):
    torch.save(nn.Sequential(nn.Linear(2, 2)), tmp_path / "model.pt")  # the whole module, pickled
    with pytest.raises(CheckpointError, match="holds pickled Python objects.*weights_only=True.*state_dict"):
        load_checkpoint(str(tmp_path / "model.pt"), "plain", arch="lenet")

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"net": Payload()}, f, protocol=2)
    with pytest.raises(CheckpointError):
        load_checkpoint(str(tmp_path / "evil.pt"), "macer")
    assert not (tmp_path / "pwned").exists()


def test_argument_errors(files):
    with pytest.raises(ValueError, match="format must be one of cohen, smoothadv, macer, rs4a, plain, got 'keras'"):
        load_checkpoint(files["cohen"], "keras")
    with pytest.raises(ValueError, match="normalization must be one of normalize, center, none, got 'standardize'"):
        load_checkpoint(files["cohen"], "cohen", normalization="standardize")
    with pytest.raises(ValueError, match="dataset must be one of cifar10, imagenet, mnist, got 'svhn'"):
        load_checkpoint(files["cohen"], "cohen", dataset="svhn")
    with pytest.raises(CheckpointError, match="checkpoint nope.pt does not exist"):
        load_checkpoint("nope.pt", "cohen")


def test_suggest_format():
    assert suggest_format({"net": {}, "epoch": 1}).startswith("macer")
    rs4a_keys = {"norm.module.mu": torch.zeros(1), "model.module.fc.weight": torch.zeros(1)}
    assert suggest_format(rs4a_keys).startswith("rs4a")
    assert suggest_format([1, 2]) is None


def test_without_torchvision_only_its_architectures_fail(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now raises ImportError
    save_cohen(tmp_path / "c.pth.tar", "cifar_resnet20", NormalizeLayer(CIFAR_MEAN, CIFAR_STD), CifarResNet(20))
    assert isinstance(load_checkpoint(str(tmp_path / "c.pth.tar"), "cohen"), nn.Sequential)
    torch.save({"epoch": 1, "arch": "resnet50", "state_dict": {}}, tmp_path / "rn50.pth.tar")
    with pytest.raises(CheckpointError, match="architecture 'resnet50' needs torchvision: pip install"):
        load_checkpoint(str(tmp_path / "rn50.pth.tar"), "cohen")


def test_2019_checkpoints_legacy_serialization_and_pre_0_4_1_batchnorm(tmp_path, x32):
    """Released checkpoints predate torch 1.6's zip format; the oldest lack BatchNorm's num_batches_tracked
    (BatchNorm metadata version 1), which torch's own loader fills in."""
    net = randomized(CifarResNet(20))
    state = nn.Sequential(NormalizeLayer(CIFAR_MEAN, CIFAR_STD), net).state_dict()
    old = type(state)((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    old._metadata = {k: {**v, "version": 1} if "version" in v and "bn" in k or "downsample.1" in k else dict(v)
                     for k, v in state._metadata.items()}
    torch.save({"epoch": 90, "arch": "cifar_resnet20", "state_dict": old}, tmp_path / "c.pth.tar",
               _use_new_zipfile_serialization=False)
    model = load_checkpoint(str(tmp_path / "c.pth.tar"), "cohen")
    with torch.no_grad():
        torch.testing.assert_close(model(x32), net((x32 - channels(CIFAR_MEAN)) / channels(CIFAR_STD)))
    old._metadata["1.bn1"]["version"] = 2  # claims to be new, so the missing key is an error
    torch.save({"epoch": 90, "arch": "cifar_resnet20", "state_dict": old}, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError, match="1 missing keys \\('1.bn1.num_batches_tracked'\\)$"):
        load_checkpoint(str(tmp_path / "bad.pth.tar"), "cohen")
