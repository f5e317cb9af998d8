import itertools

import numpy as np
import pytest

from zsarbench.transfer.program import (allowed_entries, composite_prototypes, knn_mask, relative_mask,
                                        solve_exact, solve_mip, transfer)


def random_M(rng, gamma, kappa):
    u = rng.normal(size=(gamma, 8))
    s = rng.normal(size=(kappa, 8))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    return u @ s.T


def feasible_by_definition(A, M, K, theta, rho):
    """The paper's constraints, written out with loops (independent of the vectorised masks)."""
    gamma, kappa = M.shape
    for j in range(gamma):
        knn = sorted(range(kappa), key=lambda i: (-M[j, i], i))[:K]
        for i in range(kappa):
            if not A[j, i]:
                continue
            if i not in knn:                                            # constraint I
                return False
            ratios = [(1 - M[k, i]) / (1 - M[j, i]) for k in range(gamma) if k != j]
            if ratios and min(ratios) <= theta:                         # constraint II
                return False
        if A[j].sum() > rho:                                            # constraint III
            return False
    return True


def exhaustive_optimum(M, K, theta, rho):
    best = -np.inf
    n = M.size
    for bits in itertools.product([0, 1], repeat=n):
        A = np.array(bits, dtype=bool).reshape(M.shape)
        if feasible_by_definition(A, M, K, theta, rho):
            best = max(best, float((M * A).sum()))
    return best


@pytest.mark.parametrize("backend", ["highs", "cbc"])
def test_mip_reaches_exhaustive_optimum_on_small_instances(backend):
    rng = np.random.default_rng(0)
    for trial in range(12):
        M = random_M(rng, 3, 4)
        K, theta, rho = int(rng.integers(1, 5)), float(rng.choice([0.0, 0.6, 0.9, 1.1])), int(rng.integers(1, 4))
        A, used = solve_mip(M, allowed_entries(M, K, theta), rho, backend)
        assert used == backend
        assert feasible_by_definition(A, M, K, theta, rho)
        assert (M * A).sum() == pytest.approx(exhaustive_optimum(M, K, theta, rho), abs=1e-9)


def test_mip_respects_each_constraint_on_random_instances():
    rng = np.random.default_rng(1)
    for trial in range(20):
        gamma, kappa = int(rng.integers(2, 12)), int(rng.integers(3, 30))
        M = random_M(rng, gamma, kappa)
        K, theta, rho = int(rng.integers(1, kappa + 1)), float(rng.uniform(0, 1.2)), int(rng.integers(1, 6))
        A, _ = solve_mip(M, allowed_entries(M, K, theta), rho)
        assert feasible_by_definition(A, M, K, theta, rho)
        assert np.all(A.sum(1) <= rho)
        # and the exact row-wise solver reaches the same objective
        E = solve_exact(M, allowed_entries(M, K, theta), rho)
        assert (M * A).sum() == pytest.approx((M * E).sum(), abs=1e-7)


def test_constraint_I_keeps_only_the_K_nearest():
    M = np.array([[0.9, 0.8, 0.7, 0.1]])
    A, _ = solve_mip(M, allowed_entries(M, K=2, theta=0.0), rho=4)
    assert A.tolist() == [[True, True, False, False]]


def test_constraint_II_blocks_a_seen_class_much_closer_to_another_unseen():
    # seen 0 is far more related to unseen 1 (distance 0.05) than to unseen 0 (distance 0.5):
    # ratio 0.05 / 0.5 = 0.1 <= 0.5 blocks (0, 0); (1, 1) has ratio 0.4 / 0.9 = 0.44, blocked too
    M = np.array([[0.5, 0.6],
                  [0.95, 0.1]])
    assert relative_mask(M, theta=0.5).tolist() == [[False, True], [True, False]]
    assert relative_mask(M, theta=0.4).tolist() == [[False, True], [True, True]]
    A, _ = solve_mip(M, allowed_entries(M, K=2, theta=0.5), rho=2)
    assert A[0].tolist() == [False, True]
    A0, _ = solve_mip(M, allowed_entries(M, K=2, theta=0.0), rho=2)
    assert A0[0].tolist() == [True, True], "theta = 0 leaves the edge allowed"


def test_constraint_III_budget():
    M = np.array([[0.9, 0.8, 0.7, 0.6]])
    A, _ = solve_mip(M, allowed_entries(M, K=4, theta=0.0), rho=2)
    assert A.sum() == 2 and A[0, :2].all()


def test_knn_mask_ties_are_stable():
    assert knn_mask(np.array([[0.5, 0.5, 0.5]]), 2).tolist() == [[True, True, False]]


def test_composite_prototype_is_eq6_weighted_mean():
    M = np.array([[0.5, 0.25, 0.9]])
    A = np.array([[True, True, False]])
    phi = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    protos, empty = composite_prototypes(A, M, phi)
    np.testing.assert_allclose(protos, [[0.5 / 0.75, 0.25 / 0.75]])
    assert empty == []


def test_empty_row_falls_back_to_most_related_seen_class():
    # the only seen class is far closer to unseen 1 than to unseen 0: constraint II empties row 0
    unseen = np.array([[1.0, 0.0], [0.6, 0.8]])
    seen = np.array([[0.5, np.sqrt(0.75)]])
    res = transfer(unseen, seen, np.array([[3.0, 4.0]]), theta=0.9, K=1, rho=1)
    assert res.A.tolist() == [[False], [True]]
    assert res.empty_rows == [0]
    np.testing.assert_allclose(res.prototypes, [[3.0, 4.0], [3.0, 4.0]])
    protos, empty = composite_prototypes(np.zeros((1, 2), dtype=bool), np.array([[-0.2, -0.1]]), np.eye(2))
    assert empty == [0]
    np.testing.assert_allclose(protos, [[0.0, 1.0]])


def test_cross_validation_picks_from_the_grid_using_seen_classes_only():
    from zsarbench.transfer.cv import cross_validate

    rng = np.random.default_rng(0)
    kappa, d = 20, 16
    vecs = rng.normal(size=(kappa, d))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    labels = np.repeat(np.arange(kappa), 5)
    # features that live in the label space: composing neighbours' prototypes should work well
    feats = vecs[labels] + 0.05 * rng.normal(size=(len(labels), d))
    cv = cross_validate(vecs, feats, labels, thetas=[0.0, 0.8], Ks=[1, 3], rhos=[1, 3], folds=5, solver="exact")
    assert (cv["theta"], cv["K"], cv["rho"]) in {(t, k, r) for t in (0.0, 0.8) for k in (1, 3) for r in (1, 3)}
    assert len(cv["grid"]) == 8 and all(len(g["top1_per_fold"]) == 5 for g in cv["grid"])
    assert cv["cv_top1"] == max(g["top1_mean"] for g in cv["grid"]) or abs(
        cv["cv_top1"] - max(g["top1_mean"] for g in cv["grid"])) < 1e-3
    assert cv["cv_top1"] > 100 / 4, "well above the chance of a 4-class fold"
