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

from . import _ops
from .cache import atomic_write, cache_dir
from .noises import Noise
from .seeding import Phase
from .train.losses import smoothed_log_likelihood


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


def train_digits_model(noise: Noise, *, train_loss: str = "augment", epochs: int = 30, seed: int = 0,
                       samples: int = 4, log=print, quiet: bool = False) -> torch.nn.Module:
    """Train (or load from the cache) the demo CNN under ``noise``. ``train_loss``: 'augment' (cross
    entropy on one noisy copy per example per step) or 'smoothed-nll' (the smoothed log-likelihood of
    ``samples`` noisy copies)."""
    key = json.dumps({"noise": repr(noise), "params": noise.params, "family": noise.family, "loss": train_loss,
                      "epochs": epochs, "seed": seed, "samples": samples, "version": 1}, sort_keys=True)
    path = os.path.join(cache_dir(), f"demo-digits-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt")
    model = digits_cnn()
    if os.path.exists(path):
        model.load_state_dict(torch.load(path, weights_only=True))
        log(f"loaded the trained demo model from the cache ({path})")
        return model.eval()
    x, y, _, _ = load_digits_split()
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    step = 0
    generator = torch.Generator().manual_seed(seed)
    from tqdm import tqdm

    for _ in tqdm(range(epochs), desc="training", unit="epoch", disable=quiet or not sys.stderr.isatty(),
                  leave=False):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(64):
            if train_loss == "augment":
                noisy = _ops.perturb(x[batch], noise, 1, seed=seed, offset=step, input_ids=batch, phase=Phase.AUGMENT)
                loss = torch.nn.functional.cross_entropy(model(noisy), y[batch])
            else:
                loss = smoothed_log_likelihood(model, x[batch], y[batch], noise, samples, seed=seed,
                                               offset=step * samples).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    log(f"trained the demo CNN on {len(x)} digits for {epochs} epochs ({train_loss}) in "
        f"{time.perf_counter() - start:.1f} s; cached at {path}")
    atomic_write(path, lambda f: torch.save(model.state_dict(), f))
    return model.eval()
