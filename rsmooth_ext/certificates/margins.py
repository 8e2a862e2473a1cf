"""The margin policy of the certified radii (docs/certificates.md, "Margin policy").

Every radius the library returns is the float64 evaluation of a formula, so it carries a rounding error.
A certificate must never exceed the exact value, so every returned radius is rounded toward zero by a
relative amount that covers the error of its evaluation:

* ``ELEMENTARY_MARGIN`` (64 ulp of 1): closed forms built from exactly computed inputs (p - 1/2 and 1 - p
  are exact for 1/2 <= p <= 1) and a few correctly rounded or few-ulp operations (log1p, expm1, ndtri,
  products, quotients). ``certify`` applies it to every route, so a radius function registered without
  its own policy still gets it.
* ``SPECIAL_FUNCTION_MARGIN`` (1e-10): closed forms through iterative special functions (betaincinv,
  hyp2f1, poch) whose documented accuracy is ~1e-14 but degrades at extreme parameters (d = 150528);
  the oracle tests (mpmath) check that 1e-10 covers every pair on the audited range.
* ``TABLE_MARGIN`` (1e-7): table lookups (differential-method and level-set tables). The integration error (per
  entry) and the growth function's stated relative error bound are subtracted when a table is built
  (``tables.py``), but the growth functions go through incomplete-gamma inverses at large shapes whose float error
  reached 2.6e-9 relative (the exponential l_inf family's l_inf table at k = 0.5, d = 784, p = 1/2 + 1e-8: the
  mpmath oracle found the table 2.6e-9 above exact); 1e-7 covers that forty times over and costs nothing against
  the 0.1% tightness target.
"""

from __future__ import annotations

import numpy as np

ELEMENTARY_MARGIN = 64.0 * float(np.finfo(np.float64).eps)
SPECIAL_FUNCTION_MARGIN = 1e-10
TABLE_MARGIN = 1e-7


def round_down(radius, relative: float):
    """``radius * (1 - relative)``, clipped at 0 (a radius rounded toward zero by ``relative``)."""
    return np.maximum(np.asarray(radius, dtype=np.float64) * (1.0 - relative), 0.0)
