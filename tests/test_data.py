"""Datasets as users have them: CIFAR python batches (a plain-data unpickler), MNIST idx files, ImageFolders
(Cohen's ImageNet transform), .pt / .npz; Cohen's --skip / --max selection; the [0, 1] range check."""

import gzip
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from support.fabricate import (
    CIFAR_DATA,
    CIFAR_LABELS,
    MNIST_IMAGES,
    MNIST_LABELS,
    RNG,
    expected_cifar,
    idx_bytes,
    python2_cifar_pickle,
    write_cifar,
    write_png,
)

from rsmooth_ext.data import (
    DataError,
    detect_format,
    load_examples,
    load_plain_pickle,
    read_cifar,
    read_idx,
    select_indices,
    unit_range_problem,
)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 renamed numpy.core, as old pickles name it
def test_python2_pickle_fixture_is_what_numpy_reads():
    content = pickle.loads(python2_cifar_pickle(CIFAR_DATA, CIFAR_LABELS), encoding="latin1")
    assert content["labels"] == CIFAR_LABELS and (content["data"] == CIFAR_DATA).all()


@pytest.mark.parametrize("protocol", ["py2", 2, 4, 5])
@pytest.mark.parametrize("layout", ["root", "folder", "file"])
def test_cifar_batches_in_every_layout(tmp_path, protocol, layout):
    write_cifar(str(tmp_path / "cifar-10-batches-py" / "test_batch"), protocol)
    path = {"root": tmp_path, "folder": tmp_path / "cifar-10-batches-py",
            "file": tmp_path / "cifar-10-batches-py" / "test_batch"}[layout]
    assert detect_format(str(path)) == "cifar"
    x, y = read_cifar(str(path))
    ex, ey = expected_cifar()
    torch.testing.assert_close(x, ex)
    assert torch.equal(y, ey) and x.dtype == torch.float32


def test_cifar100_fine_labels(tmp_path):
    write_cifar(str(tmp_path / "cifar-100-python" / "test"), 2, labels_key=b"fine_labels")
    (tmp_path / "cifar-100-python" / "meta").write_bytes(pickle.dumps({b"fine_label_names": []}, protocol=2))
    for path in (tmp_path, tmp_path / "cifar-100-python"):
        examples = load_examples(str(path))
        assert examples.labels.tolist() == CIFAR_LABELS


def test_plain_data_pickle_refuses_code_and_objects(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(tmp_path / "pwned"),))

    with pytest.raises(DataError, match="refers to (posix|os|nt).makedirs; only plain data"):
        load_plain_pickle(__import__("io").BytesIO(pickle.dumps({b"data": Payload()}, protocol=2)))
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(DataError, match="builtin__.object|only arrays of numbers"):
        load_plain_pickle(__import__("io").BytesIO(pickle.dumps(np.array([None], dtype=object), protocol=2)))
    write = tmp_path / "test_batch"
    write.write_bytes(pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match="'data' must be uint8 of shape \\(N, 3072\\)"):
        read_cifar(str(write))


# ---- MNIST idx --------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_mnist_idx_files(tmp_path, compressed):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    suffix = ".gz" if compressed else ""
    opener = gzip.open if compressed else open
    with opener(raw / f"t10k-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(idx_bytes(MNIST_IMAGES))
    with opener(raw / f"t10k-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(idx_bytes(MNIST_LABELS))
    for path in (tmp_path, raw, raw / f"t10k-images-idx3-ubyte{suffix}"):
        assert detect_format(str(path)) == "mnist"
        examples = load_examples(str(path))
        torch.testing.assert_close(examples.inputs, torch.from_numpy(MNIST_IMAGES[:, None] / 255.0).float())
        assert examples.labels.tolist() == MNIST_LABELS.tolist() and examples.inputs.shape == (5, 1, 28, 28)


def test_mnist_errors(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(MNIST_IMAGES))
    with pytest.raises(DataError, match="the labels file .*t10k-labels-idx1-ubyte beside .* does not exist"):
        load_examples(str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(MNIST_LABELS)[:-2])
    with pytest.raises(DataError, match="does not match the file size"):
        load_examples(str(tmp_path))
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(str(tmp_path / "bad"))


# ---- ImageFolder ------------------------------------------------------------------------------------


def test_imagenet_folder_uses_cohens_resize_256_center_crop_224(tmp_path):
    pytest.importorskip("torchvision")
    # 256 x 512 (H x W): Resize(256) keeps it, CenterCrop(224) takes rows 16:240, columns 144:368
    image = RNG.integers(0, 256, size=(256, 512, 3), dtype=np.uint8)
    write_png(str(tmp_path / "n01440764" / "a.png"), image)
    write_png(str(tmp_path / "n01443537" / "b.png"), image[::-1].copy())
    assert detect_format(str(tmp_path)) == "imagenet"
    examples = load_examples(str(tmp_path))
    assert examples.inputs.shape == (2, 3, 224, 224) and examples.labels.tolist() == [0, 1]
    crop = torch.from_numpy(image[16:240, 144:368].transpose(2, 0, 1) / 255.0).float()
    torch.testing.assert_close(examples.inputs[0], crop)


def test_imagefolder_as_is_with_skip_and_max(tmp_path):
    pytest.importorskip("torchvision")
    images = RNG.integers(0, 256, size=(7, 6, 5, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        write_png(str(tmp_path / f"class{i % 2}" / f"{i}.png"), im)
    everything = load_examples(str(tmp_path), "imagefolder")
    assert everything.inputs.shape == (7, 3, 6, 5) and everything.indices == list(range(7))
    chosen = load_examples(str(tmp_path), "imagefolder", skip=3, max_index=6)
    assert chosen.indices == [0, 3]
    torch.testing.assert_close(chosen.inputs, everything.inputs[[0, 3]])
    write_png(str(tmp_path / "class0" / "big.png"), np.zeros((9, 9, 3), np.uint8))
    with pytest.raises(DataError, match="have different sizes"):
        load_examples(str(tmp_path), "imagefolder")


# ---- selection, detection, range ----------------------------------------------------------------------


def test_select_indices_is_cohens_skip_and_max():
    # certify.py: for i in range(len(dataset)): skip unless i % skip == 0; stop at i == max
    def cohen(size, skip, max_):
        out = []
        for i in range(size):
            if i % skip != 0:
                continue
            if i == max_:
                break
            out.append(i)
        return out

    for size, skip, max_ in [(10000, 20, -1), (10000, 100, 500), (7, 3, 6), (5, 1, 100), (50000, 100, 50000)]:
        assert select_indices(size, skip, None if max_ == -1 else max_) == cohen(size, skip, max_)
    with pytest.raises(ValueError, match="skip must be an integer >= 1, got 0"):
        select_indices(10, 0)
    with pytest.raises(ValueError, match="max_index must be an integer >= 1 or None, got -1"):
        select_indices(10, 1, -1)


def test_tensors_with_skip_and_max(tmp_path):
    x, y = torch.rand(10, 2), torch.arange(10)
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    examples = load_examples(str(tmp_path / "d.pt"), skip=4)
    assert examples.indices == [0, 4, 8] and torch.equal(examples.inputs, x[[0, 4, 8]])
    assert examples.labels.tolist() == [0, 4, 8]


def test_detect_format_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot tell the format of directory"):
        detect_format(str(tmp_path / "empty"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="cannot tell the format of"):
        detect_format(str(tmp_path / "notes.txt"))
    with pytest.raises(DataError, match="data nothing.pt does not exist"):
        load_examples("nothing.pt")
    with pytest.raises(ValueError, match="data format must be one of tensors, cifar, imagenet, imagefolder, mnist"):
        load_examples(str(tmp_path / "notes.txt"), "csv")


def test_unit_range_problem_names_the_normalization():
    assert unit_range_problem(torch.rand(3, 4), "d.pt") is None
    message = unit_range_problem(torch.rand(3, 4) * 255, "d.pt")
    assert "range over [" in message and "not [0, 1]" in message and "divide them by 255" in message
    assert "NormalizeLayer" in message
    assert "normalized already" in unit_range_problem(torch.randn(3, 4), "d.pt")
    assert "not all finite" in unit_range_problem(torch.tensor([0.5, float("nan")]), "d.pt")


def test_image_folders_without_torchvision_say_so(tmp_path, monkeypatch):
    write_png(str(tmp_path / "a" / "0.png"), np.zeros((4, 4, 3), np.uint8))
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(DataError, match="is an image folder: reading it needs torchvision"):
        load_examples(str(tmp_path))
