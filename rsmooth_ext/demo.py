"""The ``rsmooth demo`` job: scikit-learn's bundled 8x8 digits (offline), a small CNN trained with noise
augmentation through the fused ``perturb`` op (cached in the user cache directory), then certification
of the held-out split."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import torch

from .cache import atomic_write, cache_dir
from .noises import Noise


def load_digits_split(test_fraction: float = 0.2, seed: int = 0):
    """(x_train, y_train, x_test, y_test): digits as (N, 1, 8, 8) float32 in [0, 1], a fixed split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("the demo needs scikit-learn: pip install 'rsmooth_ext[demo]'") from e
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def digits_cnn(num_classes: int = 10) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 16, 128), torch.nn.ReLU(), torch.nn.Linear(128, num_classes),
    )


DEMO_SCHEDULE = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}  # constant: no decay in the short run
DEMO_BATCH = 64
TRAIN_LOSSES = ("augment",)  # the demo's first name for gaussian; every registered method name is accepted too


def train_digits_model(noise: Noise, *, train_loss: str = "augment", epochs: int = 30, seed: int = 0,
                       samples: int | None = None, hparams: dict | None = None, log=print,
                       quiet: bool = False) -> torch.nn.Module:
    """Train (or load from the cache) the demo CNN under ``noise`` with ``rsmooth_ext.train.train``:
    ``train_loss`` is a training method (rsmooth_ext.train.METHODS; 'augment' is 'gaussian'), ``samples``
    its number of noisy copies m (default: the method's), ``hparams`` its other hyperparameters."""
    from .train import Schedule, get_method, train

    method = get_method("gaussian" if train_loss == "augment" else train_loss)
    hparams = dict(hparams or {})
    if samples is not None:
        hparams["m"] = samples
    hparams = method.resolve(hparams, noise)
    key = json.dumps({"noise": repr(noise), "params": noise.params, "family": noise.family, "method": method.name,
                      "hparams": hparams, "epochs": epochs, "seed": seed, "version": 2}, sort_keys=True)
    path = os.path.join(cache_dir(), f"demo-digits-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt")
    model = digits_cnn()
    if os.path.exists(path):
        model.load_state_dict(torch.load(path, weights_only=True))
        log(f"loaded the trained demo model from the cache ({path})")
        return model.eval()
    x, y, x_test, y_test = load_digits_split()
    torch.manual_seed(seed)
    model = digits_cnn()
    start = time.perf_counter()
    result = train(model, (x, y), (x_test, y_test), noise, method=method, hparams=hparams, epochs=epochs, seed=seed,
                   batch_size=DEMO_BATCH, schedule=Schedule(lr_step_size=epochs, **DEMO_SCHEDULE), log=None,
                   progress=not quiet and sys.stderr.isatty())
    last = result.history[-1]
    log(f"trained the demo CNN on {len(x)} digits for {epochs} epochs ({method.name} {hparams}) in "
        f"{time.perf_counter() - start:.1f} s: test accuracy under one noisy copy {last['test acc']:.1f}%; "
        f"cached at {path}")
    atomic_write(path, lambda f: torch.save(model.state_dict(), f))
    return model.eval()
