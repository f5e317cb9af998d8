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

Several pairs of one paper table are one family of tests: their p-values are adjusted together by
**Holm's step-down method** (`statsmodels.stats.multitest.multipletests(p, method="holm")`), which
controls the chance of any false "holds" or "reversed" in the table at 0.05 without assuming the
tests independent. Both p-values are shown; the verdicts use the adjusted one (`adjust`).

Per pair, the **minimum detectable difference**: the difference of means the design (these n seeds
and this spread) finds with 80% power at alpha 0.05, two-sided (statsmodels' TTestIndPower, or
TTestPower on the per-seed differences of a paired test, solved for the effect size, times the
pooled sample std, ddof 1). A "within noise" pair whose detectable difference is large says "too
few seeds", not "no effect". It is computed at the unadjusted alpha: under Holm it is a lower bound.

Verdicts, for the claim "A > B" (the difference is mean A - mean B; alpha 0.05 on the Holm-adjusted p):
  "holds" (difference > 0, p < 0.05), "holds within noise" (difference > 0, not significant),
  "no difference" (the means are equal: a difference of exactly 0 supports neither order),
  "reversed within noise" (difference < 0, not significant), "reversed" (difference < 0, p < 0.05),
  and, with no test run: "no results: not testable" (a row has no seed), "1 seed: not testable" (a
  row has one seed: no spread to test against; never "significant"), "not testable (no variance)"
  (both rows have at least 2 seeds but every seed of A has the same mean, and every seed of B too:
  Welch's standard error is 0, where scipy gives NaN, or p = 0 with a zero-width interval; a spread
  of exactly 0 means the seeds did not vary the model, not that the difference is certain),
  "equal in every seed" (both rows score the same on every seed, e.g. two transfer variants that
  choose the same edges: the claim A > B fails, with nothing to test), and the verdicts of rows whose
  numbers measure no method (the report decides them: report/marks.py): "collapsed: not testable"
  (at least half of a row's splits sent more than half their predictions to one class), "did not
  train: not testable" (a training stage of the row's model ended at the loss of a uniform guess),
  and "different data formats: not testable" (the rows were measured on different generations of the
  synthetic data). When only
  one row is constant the test runs: the other row's spread makes the standard error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
LEVEL = 0.95
POWER = 0.8
METHOD = ("Welch's t-test (scipy.stats.ttest_ind, equal_var=False, two-sided) on the per-seed means "
          "(each trained model's mean top-1 over the protocol's splits; seeds are the unit of replication, "
          "never the splits); 95% confidence interval of mean A - mean B from the same test "
          "(Welch-Satterthwaite df); alpha 0.05 on the Holm-adjusted p-value")
PAIRED_METHOD = ("paired t-test (scipy.stats.ttest_rel, two-sided) on the per-seed means of rows that share their "
                 "trained models (seed i of both rows is one model); 95% confidence interval of mean A - mean B "
                 "from the same test (n - 1 df); alpha 0.05 on the Holm-adjusted p-value")
HOLM = ("Holm's step-down correction (statsmodels multipletests, method='holm') over the tested pairs of each "
        "paper table (one family per table); verdicts use the adjusted p")
MDD = ("detectable: the difference of means these seeds detect with 80% power at alpha 0.05, two-sided (statsmodels "
       "TTestIndPower, or TTestPower for a paired test, solved for the effect size, times the pooled sample std "
       "of the per-seed means, ddof 1)")
HOLDS, HOLDS_NOISE, REVERSED_NOISE, REVERSED = "holds", "holds within noise", "reversed within noise", "reversed"
NO_RESULTS, ONE_SEED, NO_VARIANCE = "no results: not testable", "1 seed: not testable", "not testable (no variance)"
EQUAL = "equal in every seed"     # the two rows score the same on every seed: the claim A > B fails
NO_DIFFERENCE = "no difference"   # tested, and the means are equal
COLLAPSED, NOT_TRAINED = "collapsed: not testable", "did not train: not testable"
FORMATS_DIFFER = "different data formats: not testable"   # the rows were measured on different data
TESTED = (HOLDS, HOLDS_NOISE, NO_DIFFERENCE, REVERSED_NOISE, REVERSED)


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
    p_adjusted: float | None = None  # Holm-adjusted within the table's family (adjust); the verdict's p
    mdd: float | None = None         # minimum detectable difference (80% power), percent points

    @property
    def tested(self) -> bool:
        return self.verdict in TESTED


def seed_means(per_seed) -> np.ndarray:
    """Each seed's mean over its splits (a seed with no values is left out)."""
    return np.asarray([np.mean(np.asarray(s, dtype=np.float64)) for s in per_seed if len(s)], dtype=np.float64)


def compare(a, b, models_a=None, models_b=None, blocked: str | None = None) -> Comparison:
    """Row A against row B on one protocol; a and b: per seed, the top-1 of each split. models_a and
    models_b (optional): the trained model behind each seed; when both rows hold the same models, the
    test is paired by model (module docstring). `blocked`: a verdict that stops the test (COLLAPSED,
    NOT_TRAINED). The verdict uses the raw p until `adjust` puts the pair in its family."""
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
    if blocked:
        return Comparison(**base, verdict=blocked)
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
    return Comparison(**{**base, "ci": (float(ci.low), float(ci.high)), "p": p, "df": float(res.df)},
                      verdict=verdict_of(diff, p), method=PAIRED_METHOD if paired else METHOD,
                      mdd=detectable_difference(ma, mb, paired))


def verdict_of(diff: float, p: float) -> str:
    """The verdict of a tested pair from its difference and the p-value it is judged on."""
    if diff == 0:
        return NO_DIFFERENCE
    significant = p < ALPHA
    if diff > 0:
        return HOLDS if significant else HOLDS_NOISE
    return REVERSED if significant else REVERSED_NOISE


def detectable_difference(ma: np.ndarray, mb: np.ndarray, paired: bool = False) -> float | None:
    """The difference of means (percent points) that n_a and n_b seeds detect with POWER at ALPHA,
    two-sided, at the observed spread: Cohen's d solved by statsmodels' power classes, times the
    pooled sample std of the per-seed means (paired: the sample std of the per-seed differences)."""
    if paired:
        sd = float(np.std(ma - mb, ddof=1))
    else:
        na, nb = len(ma), len(mb)
        sd = float(np.sqrt(((na - 1) * np.var(ma, ddof=1) + (nb - 1) * np.var(mb, ddof=1)) / (na + nb - 2)))
    d = _effect(len(ma), len(mb), paired)
    return float(d * sd) if sd > 0 and np.isfinite(d) else None


@lru_cache(maxsize=None)
def _effect(na: int, nb: int, paired: bool) -> float:
    """Cohen's d detected with POWER at ALPHA by na and nb seeds (a root search: solved once per design)."""
    from statsmodels.stats.power import TTestIndPower, TTestPower

    if paired:
        return float(TTestPower().solve_power(effect_size=None, nobs=na, alpha=ALPHA, power=POWER))
    return float(TTestIndPower().solve_power(effect_size=None, nobs1=na, ratio=nb / na, alpha=ALPHA, power=POWER))


def adjust(comparisons: list[Comparison]) -> list[Comparison]:
    """One family of pairs (a paper table's): the tested ones get their Holm-adjusted p-value and the
    verdict it gives; the others are returned as they are. Same order as given."""
    from statsmodels.stats.multitest import multipletests

    tested = [k for k, c in enumerate(comparisons) if c.verdict in TESTED and c.p is not None]
    out = list(comparisons)
    if not tested:
        return out
    adjusted = multipletests([comparisons[k].p for k in tested], alpha=ALPHA, method="holm")[1]
    for k, p in zip(tested, adjusted):
        c = comparisons[k]
        out[k] = replace(c, p_adjusted=float(p), verdict=verdict_of(c.diff, float(p)))
    return out
