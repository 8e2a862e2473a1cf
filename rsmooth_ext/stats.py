"""The statistics of Cohen et al.'s PREDICT and CERTIFY (scipy.stats), vectorised over inputs."""

from __future__ import annotations

import numpy as np
from scipy import stats


def clopper_pearson_lower(successes, trials: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson lower confidence bound on a binomial proportion:
    the alpha quantile of Beta(k, n - k + 1), and 0 when k = 0. Vectorised over ``successes``."""
    k = np.asarray(successes, dtype=np.float64)
    safe_k = np.maximum(k, 1.0)
    bound = stats.beta.ppf(alpha, safe_k, trials - safe_k + 1)
    return np.where(k > 0, bound, 0.0)


def two_sided_binomial_pvalues(top: np.ndarray, runner_up: np.ndarray) -> np.ndarray:
    """p-values of the two-sided binomial test of ``top`` successes in ``top + runner_up`` trials at 1/2
    (1.0 where there are no trials)."""
    return np.array(
        [stats.binomtest(int(a), int(a + b), 0.5).pvalue if a + b > 0 else 1.0 for a, b in zip(top, runner_up)],
        dtype=np.float64,
    )


def clopper_pearson_upper(successes, trials, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson upper confidence bound on a binomial proportion:
    the 1 - alpha quantile of Beta(k + 1, n - k), and 1 when k = n. Vectorised over ``successes``
    (and ``trials``)."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    safe_k = np.minimum(k, n - 1.0)
    bound = stats.beta.isf(alpha, safe_k + 1, n - safe_k)
    return np.where(k < n, bound, 1.0)
