"""The statistics of Cohen et al.'s PREDICT and CERTIFY (scipy.stats), vectorised over inputs: Clopper-Pearson
bounds, the two-sided binomial test, and the simultaneous top-2 bounds."""

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


def top2_bounds(counts: np.ndarray, top: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(p_A lower, p_B upper) per row of the estimation ``counts`` (B, K) for the chosen classes ``top`` (B,),
    holding simultaneously with probability >= 1 - alpha.

    p_A is the one-sided Clopper-Pearson lower bound at level alpha/2; each of the K - 1 other classes gets a
    one-sided Clopper-Pearson upper bound at level alpha / (2 (K - 1)) (Bonferroni), and p_B is their maximum
    (the bound of the largest count, as the bound is increasing in the count), capped at 1 - p_A (on the event
    p_A <= P(A), every other class has probability <= 1 - P(A) <= 1 - p_A). By the union bound the pair holds
    with probability >= 1 - alpha, whatever the class that carries the mass. With one class, p_A is the
    single-bound lower bound at level alpha and p_B = 1 - p_A."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a (B, K) array, got shape {counts.shape}")
    batch, classes = counts.shape
    n = counts.sum(axis=1)
    rows = np.arange(batch)
    n_a = counts[rows, top].astype(np.float64)
    others = counts.copy()
    others[rows, top] = -1
    if classes == 1:  # no other class to bound: the single-bound certificate, p_B = 1 - p_A
        p_a = clopper_pearson_lower(n_a, n, alpha)
        return p_a, 1.0 - p_a
    n_b = others.max(axis=1).astype(np.float64)
    p_a = clopper_pearson_lower(n_a, n, alpha / 2.0)
    p_b = clopper_pearson_upper(n_b, n, alpha / (2.0 * (classes - 1)))
    return p_a, np.minimum(p_b, 1.0 - p_a)
