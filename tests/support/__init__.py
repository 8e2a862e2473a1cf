"""Helpers shared by the tests (importable in any pytest import mode: pyproject puts tests/ on the path)."""

import os

import pytest
import torch

import rsmooth_ext

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root

CUDA_AVAILABLE = torch.cuda.is_available() and rsmooth_ext.cuda_built()
DEVICES = ["cpu"] + (["cuda"] if CUDA_AVAILABLE else [])

# CUDA-only tests carry the `cuda` marker (benchmarks/gpu_check.sh selects them with `-m cuda`); without a
# CUDA build and a GPU they are skipped (tests/conftest.py).
requires_cuda = pytest.mark.cuda

# Statistical checks: every test uses fixed seeds, so it is deterministic; the thresholds are set so
# that a correct sampler would fail a single check with probability FALSE_ALARM (a p-value threshold
# for KS / binomial tests, the matching |z| for moment checks).
FALSE_ALARM = 1e-4
Z_THRESHOLD = 3.89  # two-sided normal quantile for FALSE_ALARM


def all_noises(dim: int, sigma: float = 0.5):
    """One spec of every family (and of the j / boosted-gamma variants), calibrated to ``sigma`` (l2-matched)
    for inputs of ``dim`` >= 4 elements."""
    return [
        rsmooth_ext.Gaussian(sigma=sigma),
        rsmooth_ext.Laplace(sigma=sigma),
        rsmooth_ext.Uniform(sigma=sigma),
        rsmooth_ext.Lomax(k=3.5, sigma=sigma),
        rsmooth_ext.Masking(keep=0.7),
        rsmooth_ext.ExpInf(k=1.0, dim=dim, sigma=sigma),
        rsmooth_ext.Exp1(k=2.0, dim=dim, sigma=sigma),
        rsmooth_ext.Exp2(k=0.5, dim=dim, sigma=sigma),
        rsmooth_ext.UniformBall(dim=dim, sigma=sigma),
        rsmooth_ext.ExpInf(k=2.0, j=3, dim=dim, sigma=sigma),
        rsmooth_ext.Exp2(k=1.5, j=2, dim=dim, sigma=sigma),
        rsmooth_ext.PowInf(a=dim + 10, dim=dim, sigma=sigma),
        rsmooth_ext.Pow2(k=2.0, a=(dim + 12) / 2, dim=dim, sigma=sigma),
        rsmooth_ext.Expp(p=0.5, sigma=sigma),
        rsmooth_ext.Expp(p=4.0, sigma=sigma),
    ]
