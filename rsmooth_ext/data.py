"""Datasets as users have them on disk, read into (inputs in [0, 1], integer labels, dataset indices).

Formats (``detect_format`` tells them apart; ``format=`` overrides):

- ``tensors``: a .pt (``torch.load(weights_only=True)``) or .npz (no pickles) file holding a dict with inputs
  (inputs / x / data / images) and labels (labels / y / targets), or a pair (inputs, labels);
- ``cifar``: CIFAR-10 / CIFAR-100 python batches: a directory holding ``cifar-10-batches-py/test_batch``
  (or ``cifar-100-python/test``), that folder itself, or a batch file. The pickle is read by an unpickler
  that builds nothing but plain data: numpy arrays of numbers are rebuilt from their bytes by our own code,
  every other global is refused;
- ``imagenet``: an ImageFolder (one folder per class, sorted) with Cohen's test transform: resize 256,
  center crop 224 (torchvision);
- ``imagefolder``: an ImageFolder read as it is (all images of one size);
- ``mnist``: idx files (``t10k-images-idx3-ubyte`` and its labels file, gzip or not): the images file or
  a directory holding them (also under ``raw/`` or ``MNIST/raw/``).

``skip`` and ``max_index`` follow Cohen's protocol: every ``skip``-th example, indices below ``max_index``;
only the selected images of an ImageFolder are decoded."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass

import numpy as np
import torch

DATA_FORMATS = ("tensors", "cifar", "imagenet", "imagefolder", "mnist")
SPLITS = ("test", "train")
_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_X_KEYS, _Y_KEYS = ("inputs", "x", "data", "images"), ("labels", "y", "targets")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DataError(ValueError):
    """Data that cannot be found, read or used."""


@dataclass
class Examples:
    """Selected examples: ``inputs`` (N, ...) float32, ``labels`` (N,) int64, and the index of each in the
    dataset (what results files record, and what keys the noise)."""

    inputs: torch.Tensor
    labels: torch.Tensor
    indices: list[int]

    def __len__(self) -> int:
        return len(self.indices)


def select_indices(size: int, skip: int = 1, max_index: int | None = None) -> list[int]:
    """Cohen's protocol: indices i < max_index (all if None) with i % skip == 0."""
    if not isinstance(skip, int) or skip < 1:
        raise ValueError(f"skip must be an integer >= 1, got {skip!r}")
    if max_index is not None and (not isinstance(max_index, int) or max_index < 1):
        raise ValueError(f"max_index must be an integer >= 1 or None, got {max_index!r}")
    stop = size if max_index is None else min(size, max_index)
    return list(range(0, stop, skip))


def load_examples(path: str, format: str | None = None, *, skip: int = 1, max_index: int | None = None,
                  split: str = "test") -> Examples:
    """Read the examples of ``path`` selected by ``skip`` / ``max_index`` (see the module docstring);
    ``format``: one of DATA_FORMATS, or None to detect it. ``split``: 'test' or 'train' (the training images
    of a CIFAR directory, data_batch_1..5 or cifar-100-python/train, or of an MNIST one, train-images-idx3;
    tensor files and image folders are what they are)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not os.path.exists(path):
        raise DataError(f"data {path} does not exist")
    if format is None:
        format = detect_format(path)
    elif format not in DATA_FORMATS:
        raise ValueError(f"data format must be one of {', '.join(DATA_FORMATS)}, got {format!r}")
    if format in ("imagenet", "imagefolder"):
        return _read_image_folder(path, cohen_transform=format == "imagenet", skip=skip, max_index=max_index)
    if format == "tensors":
        x, y = read_tensors(path)
    else:
        x, y = {"cifar": read_cifar, "mnist": read_mnist}[format](path, split=split)
    indices = select_indices(len(x), skip, max_index)
    if not indices:
        raise DataError(f"{path} holds no examples")
    index = torch.tensor(indices)
    return Examples(x[index], y[index], indices)


def detect_format(path: str) -> str:
    """The DATA_FORMATS entry of ``path``, from its name, its first bytes or what its directory holds."""
    if os.path.isdir(path):
        if _find_cifar_batch(path) is not None:
            return "cifar"
        if _find_mnist_images(path) is not None:
            return "mnist"
        if _has_class_folders(path):
            return "imagenet"
        raise DataError(f"cannot tell the format of directory {path}: expected cifar-10-batches-py/test_batch, "
                        "MNIST idx files (t10k-images-idx3-ubyte[.gz]) or one folder of images per class "
                        "(or pass the data format)")
    name = os.path.basename(path).lower()
    if name.endswith((".pt", ".pth", ".npz")):
        return "tensors"
    if "idx3-ubyte" in name:
        return "mnist"
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80" or name in ("test_batch", "test", "train") or name.startswith("data_batch"):
        return "cifar"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"\x00\x00\x08":
        return "mnist"
    raise DataError(f"cannot tell the format of {path}: expected .pt / .npz, a CIFAR python batch or an MNIST "
                    "idx file (or pass the data format)")


def unit_range_problem(x: torch.Tensor, where: str) -> str | None:
    """None if every input lies in [0, 1], else a message saying what the range suggests."""
    if x.numel() == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"inputs in {where} are not all finite"
    if lo >= 0.0 and hi <= 1.0:
        return None
    if lo >= 0.0 and hi <= 255.0:
        guess = "they look like 0..255 pixel values: divide them by 255"
    else:
        guess = "they look normalized already (mean subtracted, maybe divided by std): pass the raw images"
    return (f"inputs in {where} range over [{lo:.4g}, {hi:.4g}], not [0, 1]: the noise is added to images in "
            "[0, 1] and the normalization (NormalizeLayer / InputCenterLayer) is the model's first layer, so "
            f"{guess}")


# ---- tensors (.pt / .npz) -------------------------------------------------------------------------


def read_tensors(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (float32) and labels (int64) of a .pt / .npz file."""
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as f:
                content = {k: f[k] for k in f.files}
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot read data {path}: {type(e).__name__}: {_first_line(e)}") from None
    if isinstance(content, (tuple, list)) and len(content) == 2:
        x, y = content
    elif isinstance(content, dict):
        x = next((content[k] for k in _X_KEYS if k in content), None)
        y = next((content[k] for k in _Y_KEYS if k in content), None)
        if x is None or y is None:
            raise DataError(f"{path} must hold inputs ({'/'.join(_X_KEYS)}) and labels ({'/'.join(_Y_KEYS)}); "
                            f"found keys {sorted(content)}")
    else:
        raise DataError(f"{path} must hold a dict with inputs and labels or a pair (inputs, labels)")
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if not x.is_floating_point():
        raise DataError(f"inputs in {path} must be floating point, got {x.dtype}")
    if y.dim() != 1 or y.dtype.is_floating_point or len(y) != len(x):
        raise DataError(f"labels in {path} must be {len(x)} integers, got shape {tuple(y.shape)} {y.dtype}")
    return x.float(), y.long()


# ---- CIFAR python batches -------------------------------------------------------------------------


def _find_cifar_batch(directory: str) -> str | None:
    for relative in ("test_batch", os.path.join("cifar-10-batches-py", "test_batch"),
                     os.path.join("cifar-100-python", "test")):
        candidate = os.path.join(directory, relative)
        if os.path.isfile(candidate):
            return candidate
    if os.path.isfile(os.path.join(directory, "test")) and os.path.isfile(os.path.join(directory, "meta")):
        return os.path.join(directory, "test")  # the cifar-100-python folder itself
    return None


def _find_cifar_train_batches(directory: str) -> list[str] | None:
    for sub in ("", "cifar-10-batches-py"):
        files = [os.path.join(directory, sub, name) for name in _CIFAR_TRAIN_BATCHES]
        if all(os.path.isfile(f) for f in files):
            return files
    for sub in ("", "cifar-100-python"):
        candidate = os.path.join(directory, sub, "train")
        if os.path.isfile(candidate) and os.path.isfile(os.path.join(directory, sub, "meta")):
            return [candidate]
    return None


def read_cifar(path: str, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) in [0, 1] and labels of a CIFAR-10 / CIFAR-100 python batch, or of a directory
    holding the test batch (``split='test'``) or the training batches (``split='train'``)."""
    if split == "train" and os.path.isdir(path):
        files = _find_cifar_train_batches(path)
        if files is None:
            raise DataError(f"{path} holds no CIFAR training batches (cifar-10-batches-py/data_batch_1..5 or "
                            "cifar-100-python/train)")
        parts = [_read_cifar_batch(f) for f in files]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    batch = _find_cifar_batch(path) if os.path.isdir(path) else path
    if batch is None:
        raise DataError(f"{path} holds no CIFAR test batch (cifar-10-batches-py/test_batch or cifar-100-python/test)")
    return _read_cifar_batch(batch)


def _read_cifar_batch(batch: str) -> tuple[torch.Tensor, torch.Tensor]:
    with open(batch, "rb") as f:
        content = load_plain_pickle(f, batch)
    if not isinstance(content, dict):
        raise DataError(f"{batch} is not a CIFAR batch: expected a dict, found a {type(content).__name__}")
    content = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}
    data = content.get("data")
    labels = content.get("labels", content.get("fine_labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{batch} is not a CIFAR batch: expected 'data' (an array) and 'labels' or 'fine_labels'; "
                        f"found keys {sorted(content)}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{batch}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if y.shape != (data.shape[0],):
        raise DataError(f"{batch}: {data.shape[0]} images but labels of shape {tuple(y.shape)}")
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return x, y


def load_plain_pickle(file, name: str = "pickle"):
    """Unpickle plain data only: containers, numbers, strings, bytes, and numpy arrays of numbers (rebuilt
    from their bytes by our own code, never by numpy's pickle hooks). Any other global is refused."""
    unpickler = _PlainDataUnpickler(file, encoding="latin1")
    unpickler.source = name
    try:
        content = unpickler.load()
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot read {name} as a pickle of plain data: {type(e).__name__}: {_first_line(e)}") from None
    return _finish_arrays(content, name)


class _ArrayClass:
    """Stands for numpy.ndarray in a pickle: only a marker passed to ``_reconstruct``."""


class _DtypeBuilder:
    """numpy.dtype(code, align, copy) then BUILD with its state: only numeric dtypes are accepted."""

    def __init__(self, code, align=False, copy=True):
        self.code = code.decode("latin1") if isinstance(code, bytes) else str(code)
        self.byteorder = "|"

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1:
            order = state[1]
            self.byteorder = order.decode("latin1") if isinstance(order, bytes) else str(order)

    def dtype(self, source: str) -> np.dtype:
        try:
            dtype = np.dtype(self.code)
        except TypeError:
            raise DataError(f"{source}: unsupported array dtype {self.code!r}") from None
        if dtype.kind not in "biufc":
            raise DataError(f"{source}: only arrays of numbers are read, found dtype {dtype}")
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" else dtype


class _ArrayBuilder:
    """numpy's _reconstruct(ndarray, shape, dtype) then BUILD (version, shape, dtype, fortran, raw bytes)."""

    def __init__(self):
        self.state = None

    def __setstate__(self, state):
        self.state = state


def _reconstruct(cls, shape, code):
    if cls is not _ArrayClass:
        raise DataError("the pickle rebuilds an object that is not a numpy array")
    return _ArrayBuilder()


class _FromBuffer:
    """numpy's _frombuffer(buffer, dtype, shape, order) of pickle protocol 5, kept until the array is built."""

    def __init__(self, buffer, dtype, shape, order):
        self.state = (1, tuple(shape), dtype, order == "F", bytes(buffer))


def _latin1_encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise DataError(f"the pickle calls _codecs.encode with {encoding!r}; only latin1 byte strings are read")
    return text.encode("latin1")


_STAND_INS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _ArrayClass,
    ("numpy", "dtype"): _DtypeBuilder,
    ("numpy.core.numeric", "_frombuffer"): _FromBuffer,
    ("numpy._core.numeric", "_frombuffer"): _FromBuffer,
    ("_codecs", "encode"): _latin1_encode,
}


class _PlainDataUnpickler(pickle.Unpickler):
    source = "pickle"

    def find_class(self, module, name):
        stand_in = _STAND_INS.get((module, name))
        if stand_in is None:
            raise DataError(f"{self.source}: the pickle refers to {module}.{name}; only plain data (and numpy "
                            "arrays of numbers) is read from pickles")
        return stand_in

    def persistent_load(self, pid):
        raise DataError(f"{self.source}: the pickle holds persistent references; only plain data is read")


def _array_from(builder, source: str) -> np.ndarray:
    version_state = builder.state
    if not (isinstance(version_state, tuple) and len(version_state) == 5):
        raise DataError(f"{source}: malformed numpy array in the pickle")
    _, shape, dtype, fortran, raw = version_state
    if not isinstance(dtype, _DtypeBuilder):
        raise DataError(f"{source}: malformed numpy array dtype in the pickle")
    if isinstance(raw, str):
        raw = raw.encode("latin1")  # a Python 2 byte string, decoded as latin1 by the unpickler
    if not isinstance(raw, (bytes, bytearray)):
        raise DataError(f"{source}: only arrays of numbers are read from pickles")
    dt = dtype.dtype(source)
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) * dt.itemsize != len(raw):
        raise DataError(f"{source}: array of shape {shape} {dt} does not match its {len(raw)} bytes")
    return np.frombuffer(bytes(raw), dtype=dt).reshape(shape, order="F" if fortran else "C").copy()


def _finish_arrays(value, source: str):
    if isinstance(value, (_ArrayBuilder, _FromBuffer)):
        return _array_from(value, source)
    if isinstance(value, dict):
        return {_finish_arrays(k, source): _finish_arrays(v, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_finish_arrays(v, source) for v in value]
    if isinstance(value, tuple):
        return tuple(_finish_arrays(v, source) for v in value)
    if isinstance(value, (_DtypeBuilder, type)) or callable(value):
        raise DataError(f"{source}: the pickle holds an object that is not plain data")
    return value


# ---- MNIST idx files ------------------------------------------------------------------------------


def _find_mnist_images(directory: str, split: str = "test") -> str | None:
    stem = "t10k" if split == "test" else "train"
    for sub in ("", "raw", os.path.join("MNIST", "raw")):
        for name in (f"{stem}-images-idx3-ubyte", f"{stem}-images-idx3-ubyte.gz"):
            candidate = os.path.join(directory, sub, name)
            if os.path.isfile(candidate):
                return candidate
    return None


def read_idx(path: str) -> np.ndarray:
    """An idx file (gzip or not) as a numpy array of its dtype and shape."""
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"cannot read idx file {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an idx file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise DataError(f"{path}: unknown idx element type 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header]) if len(data) >= header else None
    dtype = np.dtype(dtypes[data[2]])
    if shape is None or len(data) - header != int(np.prod(shape)) * dtype.itemsize:
        raise DataError(f"{path}: the idx header does not match the file size (truncated file?)")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def read_mnist(path: str, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, H, W) in [0, 1] and labels from MNIST-style idx files (the images file, or a directory
    with t10k-images-idx3-ubyte[.gz], or train-images-idx3-ubyte[.gz] for ``split='train'``); the labels file
    is the images file's name with labels-idx1."""
    images = _find_mnist_images(path, split) if os.path.isdir(path) else path
    if images is None:
        stem = "t10k" if split == "test" else "train"
        raise DataError(f"{path} holds no MNIST {split} images ({stem}-images-idx3-ubyte[.gz])")
    directory, name = os.path.split(images)
    if "images-idx3" not in name:
        raise DataError(f"{images}: an MNIST images file is named *-images-idx3-ubyte[.gz]")
    candidates = [name.replace("images-idx3", "labels-idx1")]
    candidates.append(candidates[0][:-3] if candidates[0].endswith(".gz") else candidates[0] + ".gz")
    labels = next((os.path.join(directory, c) for c in candidates if os.path.isfile(os.path.join(directory, c))), None)
    if labels is None:
        raise DataError(f"the labels file {os.path.join(directory, candidates[0])} beside {images} does not exist")
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(f"{images}: expected uint8 images (N, H, W), got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],):
        raise DataError(f"{labels}: expected {x.shape[0]} labels, got shape {y.shape}")
    return torch.from_numpy(x.astype(np.float32)[:, None] / 255.0), torch.from_numpy(y.astype(np.int64))


# ---- ImageFolder ----------------------------------------------------------------------------------


def _has_class_folders(directory: str) -> bool:
    for entry in sorted(os.listdir(directory)):
        sub = os.path.join(directory, entry)
        if os.path.isdir(sub) and any(f.lower().endswith(_IMAGE_EXTENSIONS) for f in os.listdir(sub)):
            return True
    return False


def cohen_test_transform():
    """Resize the shorter side to 256, center crop 224, to a [0, 1] tensor (Cohen et al.'s ImageNet test set)."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])


def _read_image_folder(path: str, *, cohen_transform: bool, skip: int, max_index: int | None) -> Examples:
    try:
        from torchvision import datasets, transforms
    except ImportError:
        raise DataError(f"{path} is an image folder: reading it needs torchvision "
                        "(pip install 'rsmooth_ext[vision]')") from None
    if not os.path.isdir(path):
        raise DataError(f"{path} is not a directory: an ImageFolder is one folder of images per class")
    transform = cohen_test_transform() if cohen_transform else transforms.ToTensor()
    try:
        folder = datasets.ImageFolder(path, transform=transform)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"cannot read ImageFolder {path}: {_first_line(e)}") from None
    indices = select_indices(len(folder), skip, max_index)
    if not indices:
        raise DataError(f"ImageFolder {path} holds no images")
    xs, ys = [], []
    for i in indices:
        try:
            x, y = folder[i]
        except Exception as e:  # noqa: BLE001 - a corrupt image names itself
            raise DataError(f"cannot read image {folder.samples[i][0]}: {type(e).__name__}: {_first_line(e)}") from None
        xs.append(x)
        ys.append(y)
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise DataError(f"the images of {path} have different sizes {sorted(shapes)[:3]}: use the imagenet format "
                        "(resize 256, center crop 224) or resize them")
    return Examples(torch.stack(xs), torch.tensor(ys, dtype=torch.long), indices)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ---- train augmentation ---------------------------------------------------------------------------

TRAIN_AUGMENTATIONS = ("none", "crop-flip", "resized-crop-flip")
_CROP_PADDING = 4  # Cohen et al. / torchvision CIFAR: RandomCrop(32, padding=4) + RandomHorizontalFlip
_RESIZED_SCALE, _RESIZED_RATIO, _RESIZED_TRIES = (0.08, 1.0), (3 / 4, 4 / 3), 10  # torchvision RandomResizedCrop


def default_augmentation(shape: tuple[int, ...]) -> str:
    """The standard train augmentation for inputs of ``shape`` (C, H, W): CIFAR-sized colour images (3, 32, 32)
    get random crop with padding 4 and horizontal flip, ImageNet-sized ones (3, H, W >= 64) random resized crop
    and flip, anything else (MNIST, the digits, vectors) none."""
    if len(shape) == 3 and shape[0] == 3 and shape[1:] == (32, 32):
        return "crop-flip"
    if len(shape) == 3 and shape[0] == 3 and min(shape[1:]) >= 64:
        return "resized-crop-flip"
    return "none"


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """The batch ``x`` (B, C, H, W) under train augmentation ``kind`` (TRAIN_AUGMENTATIONS), every random
    choice drawn from ``generator`` (so an epoch's augmentation is a pure function of the generator's seed):

    - ``crop-flip``: zero-pad by 4, crop H x W at a uniform offset, flip horizontally with probability 1/2;
    - ``resized-crop-flip``: torchvision's RandomResizedCrop (area in [0.08, 1] of the image, aspect ratio in
      [3/4, 4/3], 10 tries then the centre crop) resized bilinearly back to H x W, then the flip."""
    if kind not in TRAIN_AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {', '.join(TRAIN_AUGMENTATIONS)}, got {kind!r}")
    if kind == "none":
        return x
    if x.dim() != 4:
        raise ValueError(f"augmentation {kind} needs image batches (B, C, H, W), got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    if kind == "crop-flip":
        p = _CROP_PADDING
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        top = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        left = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        rows = top[:, None] + torch.arange(h)
        cols = left[:, None] + torch.arange(w)
    else:
        out = torch.empty_like(x)
        for i in range(b):
            top, left, ch, cw = _resized_crop_box(h, w, generator)
            out[i] = torch.nn.functional.interpolate(x[i: i + 1, :, top: top + ch, left: left + cw], size=(h, w),
                                                     mode="bilinear", align_corners=False, antialias=True)[0]
        padded, rows, cols = out, torch.arange(h).expand(b, h), torch.arange(w).expand(b, w)
    flip = torch.rand(b, generator=generator) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    index_b = torch.arange(b)[:, None, None, None]
    index_c = torch.arange(c)[None, :, None, None]
    return padded[index_b, index_c, rows[:, None, :, None], cols[:, None, None, :]]


def _resized_crop_box(h: int, w: int, generator: torch.Generator) -> tuple[int, int, int, int]:
    import math

    area = h * w
    log_ratio = (math.log(_RESIZED_RATIO[0]), math.log(_RESIZED_RATIO[1]))
    for _ in range(_RESIZED_TRIES):
        u = torch.rand(2, generator=generator, dtype=torch.float64)
        target = area * (_RESIZED_SCALE[0] + (_RESIZED_SCALE[1] - _RESIZED_SCALE[0]) * float(u[0]))
        ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * float(u[1]))
        cw, ch = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (), generator=generator))
            left = int(torch.randint(0, w - cw + 1, (), generator=generator))
            return top, left, ch, cw
    # the centre crop torchvision falls back to: the whole image within the ratio bounds
    ratio = w / h
    if ratio < _RESIZED_RATIO[0]:
        cw, ch = w, round(w / _RESIZED_RATIO[0])
    elif ratio > _RESIZED_RATIO[1]:
        ch, cw = h, round(h * _RESIZED_RATIO[1])
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw
