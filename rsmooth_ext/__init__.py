"""rsmooth_ext: fused C++/CUDA kernels for randomized-smoothing certification of PyTorch classifiers."""

import torch  # noqa: F401  (loads libtorch before the extension)

from . import (
    _C,  # noqa: F401  (loads the extension; registers torch.ops.rsmooth_ext.*)
    _meta,  # noqa: F401
)
from ._ops import build_info, cuda_built, perturb
from .noises import (
    NOISES,
    Exp1,
    Exp2,
    ExpInf,
    Expp,
    Gaussian,
    Laplace,
    Lomax,
    Masking,
    Noise,
    Pow2,
    PowInf,
    SoundGaussian,
    SoundLaplace,
    SoundUniform,
    Uniform,
    UniformBall,
    sound,
)
from .sequential import SequentialCertifyResult, certify_sequential
from .smooth import ABSTAIN, CertifyResult, certify, predict, predict_soft, sample_counts
from .train.losses import smoothed_log_likelihood

__version__ = "0.1.0"

__all__ = [
    "ABSTAIN",
    "CertifyResult",
    "certify",
    "certify_sequential",
    "SequentialCertifyResult",
    "predict",
    "predict_soft",
    "sample_counts",
    "smoothed_log_likelihood",
    "NOISES",
    "Exp1",
    "Exp2",
    "ExpInf",
    "Expp",
    "Gaussian",
    "Laplace",
    "Lomax",
    "Masking",
    "Noise",
    "Pow2",
    "PowInf",
    "SoundGaussian",
    "SoundLaplace",
    "SoundUniform",
    "sound",
    "Uniform",
    "UniformBall",
    "build_info",
    "cuda_built",
    "perturb",
]
