"""The soundness check on arrays: which examples alarm, the abstentions counted apart, the binomial tail and its
Bonferroni threshold."""

import math

import numpy as np
import pytest

from rsmooth_ext.attacks.soundness import alarm_pvalue, soundness_checks


def test_alarms_abstentions_and_the_binomial_tail():
    certified = np.array([3, 3, -1, 1, 2, 0])
    radius = np.array([1.0, 0.2, 0.0, 0.6, 0.5, 2.0])
    attacked = {0.5: np.array([1, 1, 1, -1, 2, 0]), 1.0: np.array([3, 0, 0, 0, 0, 1])}
    checks = soundness_checks(certified, radius, attacked, np.arange(10, 16), alpha_certify=0.01,
                              alpha_predict=0.02, level=0.01)
    at_half, at_one = checks
    # eps 0.5: certified examples 0 (r 1), 3 (r 0.6), 4 (r 0.5), 5 (r 2); example 0 is attacked into class 1
    assert (at_half.certified, at_half.alarms, at_half.abstained, at_half.alarm_indices) == (4, 1, 1, [10])
    # eps 1: certified 0 and 5; example 5 moves to class 1 (example 1, attacked to 0, was certified only to 0.2)
    assert (at_one.certified, at_one.alarms, at_one.alarm_indices) == (2, 1, [15])
    rate = 0.03
    assert at_half.pvalue == pytest.approx(1 - (1 - rate) ** 6)  # P(Bin(6, 0.03) >= 1)
    assert at_half.expected == pytest.approx(6 * rate) and at_half.threshold == pytest.approx(0.005)
    assert not at_half.exceeds


def test_pvalue_against_the_binomial_sum():
    n, p = 50, 0.002
    for a in range(5):
        expected = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(a, n + 1))
        assert alarm_pvalue(a, n, p) == pytest.approx(expected, rel=1e-9)
    assert alarm_pvalue(0, n, p) == 1.0


def test_the_verdict_turns_between_three_and_four_alarms():
    """100 examples, alphas 0.001 + 0.001: P(Bin(100, 0.002) >= 3) = 1.1e-3 and P(>= 4) = 5.4e-5, so at level
    1e-3 three alarms pass and four fail."""
    certified, radius = np.zeros(100, dtype=int), np.full(100, 5.0)
    for alarms, exceeds in ((3, False), (4, True)):
        attacked = {1.0: np.where(np.arange(100) < alarms, 1, 0)}
        (check,) = soundness_checks(certified, radius, attacked, np.arange(100), alpha_certify=0.001,
                                    alpha_predict=0.001, level=0.001)
        assert check.alarms == alarms and check.exceeds is exceeds


def test_bad_level():
    with pytest.raises(ValueError, match="level must be in"):
        soundness_checks(np.zeros(1), np.zeros(1), {0.5: np.zeros(1)}, np.arange(1), alpha_certify=0.1,
                         alpha_predict=0.1, level=0.0)
