"""Is row A better than row B on one protocol? A test over training seeds, computed with scipy.

The data of one row on one protocol: for each trained model (one training seed), its top-1 on each
split of the protocol. Seeds are the unit of replication: the splits of one seed are evaluations
of one trained model, so they say nothing about how much a second seed of the same method would
differ (different seeds of one method spread by several points on the synthetic benchmark). A
paired test over the splits of one seed per row treats that spread as a real difference, and calls
two seeds of the SAME method significantly different; this module never tests over splits.

The statistic: **Welch's t-test on the per-seed means** (`scipy.stats.ttest_ind(a, b,
equal_var=False)`, two-sided), where a seed's value is its mean top-1 over the protocol's splits,
and the 95% confidence interval of the difference of means from the same result
(`confidence_interval(0.95)`, Welch-Satterthwaite degrees of freedom).
  - Taking each seed's mean over the same splits removes the split difficulty common to both rows
    (both rows are scored on the same splits), so what is left is the seed-to-seed spread.
  - Seeds of different rows are independent units (different models, usually different methods),
    with possibly different spreads and counts: Welch, not Student, and not a paired test (which
    would need the i-th seed of A to belong with the i-th seed of B).
  - Rows that share their trained models (inference variants of one model: the transfer's
    constraints, S vs V space, 25 vs 1 test clips) are the exception: there seed i of A and seed i
    of B ARE the same model, so the test is paired: **a paired t-test on the per-seed means**
    (`scipy.stats.ttest_rel`, n - 1 degrees of freedom), used only when both rows hold exactly the
    same models (`compare(..., models_a, models_b)`).
  - Rejected alternatives: a hierarchical bootstrap over seeds then splits (scipy.stats.bootstrap)
    is unreliable with the 2-5 seeds a CPU budget allows, and a paired t-test over per-seed means
    of different models pairs seeds that have nothing in common.
A 0/100 protocol has one split per seed: the seed's value is that split's top-1, the same code.

Verdicts, for the claim "A > B" (the difference is mean A - mean B; alpha 0.05):
  "holds" (difference > 0, p < 0.05), "holds within noise" (difference >= 0, not significant),
  "reversed within noise" (difference < 0, not significant), "reversed" (difference < 0, p < 0.05),
  and, with no test run: "no results: not testable" (a row has no seed), "1 seed: not testable" (a
  row has one seed: no spread to test against; never "significant"), "not testable (no variance)"
  (both rows have at least 2 seeds but every seed of A has the same mean, and every seed of B too:
  Welch's standard error is 0, where scipy gives NaN, or p = 0 with a zero-width interval; a spread
  of exactly 0 means the seeds did not vary the model, not that the difference is certain), and
  "equal in every seed" (both rows score the same on every seed, e.g. two transfer variants that
  choose the same edges: the claim A > B fails, with nothing to test). When
  only one row is constant the test runs: the other row's spread makes the standard error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
LEVEL = 0.95
METHOD = ("Welch's t-test (scipy.stats.ttest_ind, equal_var=False, two-sided) on the per-seed means "
          "(each trained model's mean top-1 over the protocol's splits; seeds are the unit of replication, "
          "never the splits); 95% confidence interval of mean A - mean B from the same test "
          "(Welch-Satterthwaite df); alpha 0.05")
PAIRED_METHOD = ("paired t-test (scipy.stats.ttest_rel, two-sided) on the per-seed means of rows that share their "
                 "trained models (seed i of both rows is one model); 95% confidence interval of mean A - mean B "
                 "from the same test (n - 1 df); alpha 0.05")
HOLDS, HOLDS_NOISE, REVERSED_NOISE, REVERSED = "holds", "holds within noise", "reversed within noise", "reversed"
NO_RESULTS, ONE_SEED, NO_VARIANCE = "no results: not testable", "1 seed: not testable", "not testable (no variance)"
EQUAL = "equal in every seed"     # the two rows score the same on every seed: the claim A > B fails
TESTED = (HOLDS, HOLDS_NOISE, REVERSED_NOISE, REVERSED)


@dataclass(frozen=True)
class Comparison:
    """A > B on one protocol. Means are over seeds of each seed's mean over splits (percent)."""
    mean_a: float | None            # None: no seed
    mean_b: float | None
    n_a: int                        # seeds (trained models)
    n_b: int
    diff: float | None              # mean_a - mean_b
    ci: tuple[float, float] | None  # 95% interval of diff (None: not tested)
    p: float | None                 # two-sided p-value (None: not tested)
    df: float | None                # Welch-Satterthwaite degrees of freedom
    verdict: str
    method: str = METHOD

    @property
    def tested(self) -> bool:
        return self.verdict in TESTED


def seed_means(per_seed) -> np.ndarray:
    """Each seed's mean over its splits (a seed with no values is left out)."""
    return np.asarray([np.mean(np.asarray(s, dtype=np.float64)) for s in per_seed if len(s)], dtype=np.float64)


def compare(a, b, models_a=None, models_b=None) -> Comparison:
    """Row A against row B on one protocol; a and b: per seed, the top-1 of each split. models_a and
    models_b (optional): the trained model behind each seed; when both rows hold the same models, the
    test is paired by model (module docstring)."""
    paired = (models_a is not None and models_b is not None and len(set(models_a)) == len(models_a)
              and set(models_a) == set(models_b))
    if paired:   # align B's seeds with A's models
        order = {m: k for k, m in enumerate(models_b)}
        b = [b[order[m]] for m in models_a]
    ma, mb = seed_means(a), seed_means(b)
    mean_a = float(ma.mean()) if len(ma) else None
    mean_b = float(mb.mean()) if len(mb) else None
    diff = mean_a - mean_b if len(ma) and len(mb) else None
    base = dict(mean_a=mean_a, mean_b=mean_b, n_a=len(ma), n_b=len(mb), diff=diff, ci=None, p=None, df=None)
    if not len(ma) or not len(mb):
        return Comparison(**base, verdict=NO_RESULTS)
    if len(ma) < 2 or len(mb) < 2:
        return Comparison(**base, verdict=ONE_SEED)
    if (paired and np.all(ma == mb)) or (np.all(ma == ma[0]) and np.all(mb == ma[0])):
        return Comparison(**base, verdict=EQUAL, method=PAIRED_METHOD if paired else METHOD)
    if np.all(ma == ma[0]) and np.all(mb == mb[0]):
        return Comparison(**base, verdict=NO_VARIANCE)
    if paired and np.all(ma - mb == (ma - mb)[0]):
        return Comparison(**base, verdict=NO_VARIANCE, method=PAIRED_METHOD)
    with warnings.catch_warnings():     # a constant row: scipy warns of precision loss in its variance (0)
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        res = sps.ttest_rel(ma, mb) if paired else sps.ttest_ind(ma, mb, equal_var=False)
    ci = res.confidence_interval(LEVEL)
    p = float(res.pvalue)
    significant = p < ALPHA
    if diff > 0:
        verdict = HOLDS if significant else HOLDS_NOISE
    elif diff < 0:
        verdict = REVERSED if significant else REVERSED_NOISE
    else:
        verdict = HOLDS_NOISE
    return Comparison(**{**base, "ci": (float(ci.low), float(ci.high)), "p": p, "df": float(res.df)},
                      verdict=verdict, method=PAIRED_METHOD if paired else METHOD)
