import numpy as np
import pytest
from scipy import stats

from zsarbench.hubness import hubness, k_occurrence, skew_paper_eq10, skew_sample


def test_k_occurrence_counts_how_often_each_prototype_is_among_the_k_nearest():
    scores = np.array([[0.9, 0.1, 0.5],
                       [0.8, 0.7, 0.1],
                       [0.2, 0.3, 0.9],
                       [0.6, 0.1, 0.5]])
    assert k_occurrence(scores, 1).tolist() == [3, 0, 1]
    assert k_occurrence(scores, 2).tolist() == [3, 2, 3]
    assert k_occurrence(scores, 5).tolist() == [4, 4, 4]       # k >= gamma: every prototype, every time
    assert k_occurrence(scores, 2).sum() == 2 * len(scores)


def test_skewness_of_a_known_distribution():
    # psi = (0, 0, 0, 3): a scaled Bernoulli(1/4), skewness (1 - 2p) / sqrt(p (1 - p)) = 2 / sqrt(3)
    psi = np.array([0, 0, 0, 3])
    assert skew_sample(psi) == pytest.approx(2 / np.sqrt(3))
    assert skew_paper_eq10(psi) == pytest.approx(4 * 2 / np.sqrt(3))   # Eq. 10 lacks the 1/gamma
    # mirrored distribution: opposite sign; symmetric distribution: 0
    assert skew_sample(3 - psi) == pytest.approx(-2 / np.sqrt(3))
    assert skew_sample(np.array([1, 2, 3, 4, 5])) == pytest.approx(0.0, abs=1e-12)
    # a large exponential sample: skewness 2 (the sample figure is scipy's, bias=True)
    x = np.random.default_rng(0).exponential(size=200_000)
    assert skew_sample(x) == pytest.approx(2.0, abs=0.05)
    assert skew_sample(x) == pytest.approx(stats.skew(x))
    assert skew_paper_eq10(x) == pytest.approx(len(x) * skew_sample(x))


def test_constant_k_occurrence_has_no_skewness():
    assert skew_sample(np.array([5, 5, 5])) is None and skew_paper_eq10(np.array([5, 5, 5])) is None
    h = hubness(np.random.default_rng(0).normal(size=(20, 4)), ks=(1, 10))
    assert h["k10"]["skew_sample"] is None and h["k10"]["psi"] == [20] * 4
    assert h["k1"]["skew_sample"] is not None


def test_a_hub_prototype_gives_high_skewness():
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=(100, 10))
    flat = hubness(scores)["k1"]["skew_sample"]
    scores[:60, 3] += 1.0            # prototype 3 is the nearest of 60 of 100 test points
    hub = hubness(scores)["k1"]
    assert hub["psi"][3] >= 60 and hub["skew_sample"] > 2.5 > abs(flat)
