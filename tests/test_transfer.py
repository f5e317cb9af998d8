import itertools

import numpy as np
import pytest

from zsarbench.errors import UserError
from zsarbench.transfer.program import (
    ALL_CONSTRAINTS,
    allowed_entries,
    compose,
    composite_prototypes,
    knn_mask,
    relative_mask,
    solve,
    solve_exact,
    solve_mip,
    transfer,
)
from zsarbench.transfer.variants import VARIANTS, unseen_scores


def random_M(rng, gamma, kappa):
    u = rng.normal(size=(gamma, 8))
    s = rng.normal(size=(kappa, 8))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    return u @ s.T


def feasible_by_definition(A, M, K, theta, rho, constraints=ALL_CONSTRAINTS):
    """The paper's constraints, written out with loops (independent of the vectorised masks)."""
    gamma, kappa = M.shape
    for j in range(gamma):
        knn = sorted(range(kappa), key=lambda i: (-M[j, i], i))[:K]
        for i in range(kappa):
            if not A[j, i]:
                continue
            if "knn" in constraints and i not in knn:                   # constraint I
                return False
            ratios = [(1 - M[k, i]) / (1 - M[j, i]) for k in range(gamma) if k != j]
            if "relative" in constraints and ratios and min(ratios) <= theta:   # constraint II
                return False
        if "budget" in constraints and A[j].sum() > rho:                # constraint III
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
    for _ in range(12):
        M = random_M(rng, 3, 4)
        K, theta, rho = int(rng.integers(1, 5)), float(rng.choice([0.0, 0.6, 0.9, 1.1])), int(rng.integers(1, 4))
        A, used = solve_mip(M, allowed_entries(M, K, theta), rho, backend)
        assert used == backend
        assert feasible_by_definition(A, M, K, theta, rho)
        assert (M * A).sum() == pytest.approx(exhaustive_optimum(M, K, theta, rho), abs=1e-9)


def test_mip_respects_each_constraint_on_random_instances():
    rng = np.random.default_rng(1)
    for _ in range(20):
        gamma, kappa = int(rng.integers(2, 12)), int(rng.integers(3, 30))
        M = random_M(rng, gamma, kappa)
        K, theta, rho = int(rng.integers(1, kappa + 1)), float(rng.uniform(0, 1.2)), int(rng.integers(1, 6))
        A, _ = solve_mip(M, allowed_entries(M, K, theta), rho)
        assert feasible_by_definition(A, M, K, theta, rho)
        assert np.all(A.sum(1) <= rho)
        # and the exact row-wise solver reaches the same objective
        E = solve_exact(M, allowed_entries(M, K, theta), rho)
        assert (M * A).sum() == pytest.approx((M * E).sum(), abs=1e-7)


@pytest.mark.parametrize("constraints", [(), ("knn",), ("relative", "budget"), ALL_CONSTRAINTS, ("budget",)])
def test_solvers_agree_on_many_random_instances(constraints):
    """Property: on random instances (varied shapes and parameters) both solvers respect every
    imposed constraint and reach the same objective; the exact solver also picks the same edges
    up to ties (ties have probability 0 with continuous M)."""
    rng = np.random.default_rng(len(constraints) + 7 * ("relative" in constraints))
    for _ in range(40):
        gamma, kappa = int(rng.integers(1, 15)), int(rng.integers(1, 40))
        M = random_M(rng, gamma, kappa)
        K, theta, rho = int(rng.integers(1, kappa + 1)), float(rng.uniform(0, 1.5)), int(rng.integers(1, 8))
        results = {s: compose(M, np.eye(kappa), theta, K, rho, s, constraints=constraints) for s in ("mip", "exact")}
        for res in results.values():
            assert feasible_by_definition(res.A, M, K, theta, rho, constraints)
            assert res.solve_seconds >= 0
        obj = {s: float((M * r.A).sum()) for s, r in results.items()}
        assert obj["mip"] == pytest.approx(obj["exact"], abs=1e-7)
        pos = M > 0   # zero-weight edges do not change the objective; compare the weighted ones
        assert np.array_equal(results["mip"].A & pos, results["exact"].A & pos)
        assert results["mip"].solver.startswith("mip-") and results["exact"].solver == "exact"


def test_unknown_solver_is_a_user_error():
    with pytest.raises(UserError, match="unknown transfer solver"):
        solve(np.ones((1, 1)), np.ones((1, 1), dtype=bool), 1, "simplex")


# seen 0 is by far the nearest seen class of unseen 1, so constraint II takes it from unseen 0;
# unseen 1 keeps only seen 0 under II. Each constraint set selects differently (see below).
CONSTRUCTED_M = np.array([[0.90, 0.80, 0.70, 0.60],
                          [0.99, 0.10, 0.20, 0.10]])
EXPECTED_SELECTION = {   # K = 2, theta = 0.5, rho = 2
    "none": [[0, 1, 2, 3], [0, 1, 2, 3]],      # every positively related seen class
    "knn": [[0, 1], [0, 2]],                   # I: the 2 nearest of each row, all of them (no budget)
    "relative+budget": [[1, 2], [0]],          # II drops (0, 0), (1, 1..3); III keeps the best 2 left
    "all": [[1], [0]],                         # I and II intersect; III is then not binding
}


@pytest.mark.parametrize("solver", ["mip", "exact"])
@pytest.mark.parametrize("variant", list(EXPECTED_SELECTION))
def test_each_constraint_changes_the_selection_as_expected(variant, solver):
    res = compose(CONSTRUCTED_M, np.eye(4), theta=0.5, K=2, rho=2, solver=solver,
                  constraints=VARIANTS[variant].constraints)
    assert [np.flatnonzero(row).tolist() for row in res.A] == EXPECTED_SELECTION[variant]


def test_budget_alone_keeps_the_rho_most_related():
    res = compose(CONSTRUCTED_M, np.eye(4), theta=None, K=None, rho=1, solver="mip", constraints=("budget",))
    assert [np.flatnonzero(row).tolist() for row in res.A] == [[0], [0]]


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


def _label_space_instance(seed=0, kappa=12, gamma=5, d=16):
    rng = np.random.default_rng(seed)
    seen_vecs = rng.normal(size=(kappa, d))
    seen_vecs /= np.linalg.norm(seen_vecs, axis=1, keepdims=True)
    unseen_vecs = rng.normal(size=(gamma, d))
    unseen_vecs /= np.linalg.norm(unseen_vecs, axis=1, keepdims=True)
    return rng, seen_vecs, unseen_vecs


def test_variants_score_every_test_video_over_the_unseen_classes():
    rng, seen_vecs, unseen_vecs = _label_space_instance()
    protos = rng.normal(size=(12, 6))
    feats = rng.normal(size=(30, 6))
    for name in VARIANTS:
        x = rng.normal(size=(30, 16)) if name == "label-nn" else feats   # label-nn: features in the label space
        scores, res = unseen_scores(name, x, protos, seen_vecs, unseen_vecs, 0.5, 3, 2, "exact")
        assert scores.shape == (30, 5), name
        assert (res is None) == (name in ("s-space-nn", "label-nn"))
    # "all" is the paper's transfer: cosine to its composite prototypes
    scores, _ = unseen_scores("all", feats, protos, seen_vecs, unseen_vecs, 0.5, 3, 2, "exact")
    ref = transfer(unseen_vecs, seen_vecs, protos, 0.5, 3, 2, "exact").prototypes
    from zsarbench.evaluate import cosine_scores
    np.testing.assert_allclose(scores, cosine_scores(feats, ref))


def test_s_space_nn_and_reverse_transfer_work_in_the_label_space():
    _, seen_vecs, unseen_vecs = _label_space_instance(1)
    protos = np.eye(12)                       # orthogonal seen prototypes
    feats = protos[[3, 3, 7]] + 0.01          # videos next to seen classes 3, 3 and 7
    M = unseen_vecs @ seen_vecs.T
    s_nn, _ = unseen_scores("s-space-nn", feats, protos, seen_vecs, unseen_vecs)
    np.testing.assert_allclose(s_nn, M[:, [3, 3, 7]].T)   # the nearest seen label's relatedness
    # reverse with one edge per video composes exactly that seen label vector: same ranking
    rev, res = unseen_scores("reverse", feats, protos, seen_vecs, unseen_vecs, None, 1, 1, "mip")
    assert res.A.sum(1).tolist() == [1, 1, 1] and res.A[:, [3, 3, 7]].diagonal().all()
    np.testing.assert_allclose(rev, M[:, [3, 3, 7]].T, atol=1e-9)
    # with K = rho = 2 the second nearest seen class enters the composition and changes the scores
    rev2, res2 = unseen_scores("reverse", feats, protos, seen_vecs, unseen_vecs, None, 2, 2, "exact")
    assert res2.A.sum(1).tolist() == [2, 2, 2] and not np.allclose(rev2, rev)


def test_cross_validation_grid_covers_only_the_parameters_a_variant_uses():
    from zsarbench.transfer.cv import cross_validate

    rng, vecs, _ = _label_space_instance(2, kappa=15)
    labels = np.repeat(np.arange(15), 3)
    feats = vecs[labels] + 0.05 * rng.normal(size=(len(labels), vecs.shape[1]))
    kw = dict(thetas=[0.0, 0.8], Ks=[1, 3, 5], rhos=[1, 2], folds=5, solver="exact")
    expect = {"none": 1, "s-space-nn": 1, "knn": 3, "relative+budget": 4, "reverse": 6, "all": 12}
    for name, n in expect.items():
        cv = cross_validate(vecs, feats, labels, variant=name, **kw)
        assert len(cv["grid"]) == n and cv["variant"] == name
        used = VARIANTS[name].params
        for p in ("theta", "K", "rho"):
            assert (cv[p] is None) == (p not in used), (name, p)
            assert all((g[p] is None) == (p not in used) for g in cv["grid"])
