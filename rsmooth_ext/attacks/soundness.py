"""Certificates checked against attacks: an example certified at radius r >= eps for class c whose attacked input
(within eps) the smoothed classifier's PREDICT assigns to another class is a soundness alarm.

If the certificate holds, g = c on the whole ball, so an alarm needs CERTIFY to have failed (probability at most
its alpha) or PREDICT to have returned a class that is not g's (at most its alpha). Each example draws its own
noise, so over N examples the alarm count is a sum of independent indicators of probability at most
p0 = alpha_certify + alpha_predict: stochastically below Binomial(N, p0). More alarms than that allows, at a stated
level, mean an unsound certificate (or a run that broke the assumptions: another model, other data, reused noise).
Abstentions on the attacked input say nothing against the certificate and are counted separately."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

ABSTAIN = -1
DEFAULT_LEVEL = 0.001


@dataclass
class SoundnessCheck:
    """The check at one eps: ``examples`` paired examples, ``certified`` of them certified at radius >= eps,
    ``alarms`` (dataset indices in ``alarm_indices``) and ``abstained`` among those, the alarm count the alphas
    allow in expectation (``expected`` = examples * p0), the binomial tail P(Bin(examples, p0) >= alarms) and whether
    it is below ``threshold`` (the level divided by the number of eps checked: Bonferroni)."""

    eps: float
    examples: int
    certified: int
    alarms: int
    abstained: int
    alarm_rate_bound: float
    expected: float
    pvalue: float
    threshold: float
    alarm_indices: list[int]

    @property
    def exceeds(self) -> bool:
        """More alarms than alpha allows at the stated level."""
        return self.pvalue < self.threshold


def alarm_pvalue(alarms: int, examples: int, rate: float) -> float:
    """P(Binomial(examples, rate) >= alarms): 1 for no alarm."""
    if alarms <= 0:
        return 1.0
    return float(binom.sf(alarms - 1, examples, min(rate, 1.0)))


def soundness_checks(certified_prediction: np.ndarray, radius: np.ndarray, attacked: dict[float, np.ndarray],
                     indices: np.ndarray, *, alpha_certify: float, alpha_predict: float,
                     level: float = DEFAULT_LEVEL) -> list[SoundnessCheck]:
    """One ``SoundnessCheck`` per eps of ``attacked`` (eps -> attacked predictions, aligned with the certified
    predictions, radii and dataset ``indices`` of the same examples)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rate = alpha_certify + alpha_predict
    threshold = level / max(1, len(attacked))
    checks = []
    for eps, prediction in attacked.items():
        certified = (certified_prediction != ABSTAIN) & (radius >= eps)
        alarm = certified & (prediction != certified_prediction) & (prediction != ABSTAIN)
        n, a = len(prediction), int(alarm.sum())
        checks.append(SoundnessCheck(float(eps), n, int(certified.sum()), a,
                                     int((certified & (prediction == ABSTAIN)).sum()), rate, n * rate,
                                     alarm_pvalue(a, n, rate), threshold, [int(i) for i in indices[alarm]]))
    return checks
