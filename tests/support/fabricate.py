"""Files as the field's code bases write them, fabricated for the tests: checkpoints saved the way each
repository saves them (random weights), CIFAR python batches, MNIST idx files, PNG images."""

import os
import pickle
import struct

import numpy as np
import torch
from torch import nn

from rsmooth_ext.models import LogScaleNormalization

# the constants as the issue (and the original repositories) state them, typed in independently
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def save_cohen(path, arch, first_layer, net, **extra):
    """As locuslab/smoothing's train.py (and smoothing-adversarial's train_pgd.py) save: the state dict of
    Sequential(normalization layer, net) with the epoch, the arch name and the optimizer state."""
    model = nn.Sequential(first_layer, net)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    torch.save({"epoch": 90, "arch": arch, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                **extra}, path)
    return model


def data_parallel(net: nn.Module) -> nn.DataParallel:
    """A real nn.DataParallel wrapper (its 'module.' key layout), with the network kept on the CPU: on a GPU
    machine DataParallel moves it to cuda:0."""
    wrapped = nn.DataParallel(net)
    wrapped.module.cpu()
    return wrapped


class Rs4aLikeForecaster(nn.Module):
    """rs4a's src/models.py WideResNet / ResNet: norm and model, each in a real nn.DataParallel."""

    def __init__(self, net, mean, std):
        super().__init__()
        norm = LogScaleNormalization((len(mean), 1, 1))
        with torch.no_grad():
            norm.mu.copy_(torch.tensor(mean).reshape(-1, 1, 1))
            norm.log_sig.copy_(torch.log(torch.tensor(std)).reshape(-1, 1, 1))
        self.norm = data_parallel(norm)
        self.model = data_parallel(net)


RNG = np.random.default_rng(0)
CIFAR_DATA = RNG.integers(0, 256, size=(6, 3072), dtype=np.uint8)
CIFAR_LABELS = [3, 8, 8, 0, 6, 6]


def python2_cifar_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """The opcodes Python 2's cPickle (protocol 2) writes for a CIFAR batch: byte strings (keys, the array's raw
    bytes) as BINSTRING, numpy.core.multiarray._reconstruct and numpy.dtype globals, BUILD states."""

    def string(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<I", len(b))) + b

    def integer(i: int) -> bytes:
        return b"K" + bytes([i]) if i < 256 else b"J" + struct.pack("<i", i)

    dtype = b"cnumpy\ndtype\n" + string(b"u1") + b"\x89\x88\x87R" + b"(" + integer(3) + string(b"|") + b"NNN"
    dtype += b"J\xff\xff\xff\xffJ\xff\xff\xff\xff" + integer(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + integer(0) + b"\x85" + string(b"b")
    array += b"\x87R" + b"(" + integer(1) + integer(data.shape[0]) + integer(data.shape[1]) + b"\x86" + dtype
    array += b"\x89" + string(data.tobytes()) + b"tb"
    items = string(b"batch_label") + string(b"testing batch 1 of 1")
    items += string(b"labels") + b"](" + b"".join(integer(v) for v in labels) + b"e"
    items += string(b"data") + array
    return b"\x80\x02}(" + items + b"u."


def write_cifar(path, protocol="py2", labels_key=b"labels"):
    if protocol == "py2":
        payload = python2_cifar_pickle(CIFAR_DATA, CIFAR_LABELS)
    else:  # how a Python 3 user (or torchvision's test fixtures) writes one: bytes keys
        payload = pickle.dumps({b"batch_label": b"testing batch 1 of 1", labels_key: CIFAR_LABELS,
                                b"data": CIFAR_DATA, b"filenames": [b"a.png"] * 6}, protocol=protocol)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(payload)


def expected_cifar():
    return torch.from_numpy(CIFAR_DATA.reshape(6, 3, 32, 32) / 255.0).float(), torch.tensor(CIFAR_LABELS)


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


MNIST_IMAGES = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
MNIST_LABELS = np.array([7, 2, 1, 0, 4], dtype=np.uint8)


def write_png(path, array):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)
