"""Semantic relatedness transfer (ResT paper, Sec. 3.3.1, Eq. 1-6).

M (gamma x kappa): cosine similarity of unseen vs seen label embeddings. A binary adjacency A
maximises sum(M * A) subject to
  I   a_ji = 0 unless seen i is among the K nearest seen labels of unseen j        (Eq. 2)
  II  a_ji = 0 when min_{k != j} (1 - m_ki) / (1 - m_ji) <= theta                     (Eq. 3, 5)
      (another unseen class is much closer to seen i than j is)
  III sum_i a_ji <= rho                                                               (Eq. 4)
Composite prototype of unseen j: sum_i a_ji m_ji phi_i / sum_i a_ji m_ji              (Eq. 6)

The program is solved as an integer program (python-mip; HiGHS through highsbox, CBC as
fallback). It also separates by row - constraints I and II fix which entries may be chosen,
III bounds each row - so `solve_exact` (the rho largest positive allowed entries of each row)
reaches the same optimum; the tests check both against exhaustive search and each other.

`compose` works on any relatedness matrix whose columns are seen classes: rows are unseen labels
for the paper's transfer (anchors = seen visual prototypes) and test videos for the reverse
direction of the constraint ablation (anchors = seen label vectors; see transfer/variants.py).
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

ALL_CONSTRAINTS = ("knn", "relative", "budget")


def relatedness(unseen_vecs: np.ndarray, seen_vecs: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix M (gamma, kappa) of L2-normalised label vectors."""
    return (unseen_vecs @ seen_vecs.T).astype(np.float64)


def knn_mask(M: np.ndarray, K: int) -> np.ndarray:
    """Constraint I: True where seen i is among the K most related seen labels of unseen j."""
    order = np.argsort(-M, axis=1, kind="stable")[:, :K]
    mask = np.zeros(M.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def relative_mask(M: np.ndarray, theta: float) -> np.ndarray:
    """Constraint II (Lambda^r): False where min_{k != j} (1 - m_ki) / (1 - m_ji) <= theta."""
    gamma = M.shape[0]
    if gamma < 2:
        return np.ones(M.shape, dtype=bool)
    dist = 1.0 - M
    # smallest and second smallest distance to seen i over unseen classes: min over k != j
    part = np.partition(dist, 1, axis=0)
    lo, second = part[0], part[1]
    # the unique minimum row of a column sees the second smallest; every other row sees the minimum
    is_min = dist == lo[None, :]
    n_min = is_min.sum(0)
    other = np.where(is_min & (n_min[None, :] == 1), second[None, :], lo[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = other / dist
    ratio = np.where(np.isnan(ratio) | (dist <= 0), np.inf, ratio)
    return ratio > theta


def allowed_entries(M: np.ndarray, K: int | None, theta: float | None,
                    constraints=ALL_CONSTRAINTS) -> np.ndarray:
    """Constraints I and II as a mask of the entries that may be chosen (III bounds each row)."""
    unknown = set(constraints) - set(ALL_CONSTRAINTS)
    if unknown:
        raise ValueError(f"unknown constraint(s) {sorted(unknown)}; known: {ALL_CONSTRAINTS}")
    allowed = np.ones(M.shape, dtype=bool)
    if "knn" in constraints:
        allowed &= knn_mask(M, K)
    if "relative" in constraints:
        allowed &= relative_mask(M, theta)
    return allowed


def solve_exact(M: np.ndarray, allowed: np.ndarray, rho: int | None) -> np.ndarray:
    """Per row, the rho largest positive allowed entries (all positive ones when rho is None)."""
    A = np.zeros(M.shape, dtype=bool)
    score = np.where(allowed & (M > 0), M, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")
    take = order if rho is None else order[:, :rho]
    rows = np.arange(M.shape[0])[:, None]
    A[rows, take] = np.isfinite(score[rows, take])
    return A


class SolverUnavailable(RuntimeError):
    pass


@functools.cache
def _pin_highs_library() -> None:
    """Load highsbox's libhighs with RTLD_NODELETE before python-mip opens it.

    cffi unloads the library at interpreter exit while threads HiGHS started still have
    thread-local destructors registered; decord's exit handlers then call into unmapped code
    and the process dies with SIGSEGV after all work is done. Never unloading it avoids that."""
    import ctypes
    import sys

    import highsbox

    name = "libhighs.dylib" if sys.platform == "darwin" else "libhighs.so"
    lib = os.path.join(highsbox.highs_dist_dir(), "lib", name)
    if os.path.exists(lib):
        ctypes.CDLL(lib, mode=getattr(os, "RTLD_NODELETE", 0) | ctypes.RTLD_GLOBAL)


def _mip_model(backend: str):
    import mip

    if backend == "highs":
        try:
            _pin_highs_library()
            return mip.Model(sense=mip.MAXIMIZE, solver_name="HIGHS"), "highs"
        except Exception:  # HiGHS library missing or unloadable: CBC ships with python-mip
            pass
    return mip.Model(sense=mip.MAXIMIZE, solver_name="CBC"), "cbc"


def solve_mip(M: np.ndarray, allowed: np.ndarray, rho: int | None, backend: str = "highs"):
    """The integer program of Eq. 1-4 with python-mip. Returns (A, backend actually used)."""
    import mip

    model, used = _mip_model(backend)
    model.verbose = 0
    rows, cols = np.nonzero(allowed)          # constraints I and II: only allowed entries are variables
    A = np.zeros(M.shape, dtype=bool)
    if len(rows) == 0:
        return A, used
    # objective coefficients set with the variables and one LinExpr per row: building expressions
    # term by term costs more than HiGHS takes to solve the CV-sized programs
    x = [model.add_var(var_type=mip.BINARY, obj=float(m)) for m in M[rows, cols]]
    if rho is not None:                        # constraint III (rows come sorted from np.nonzero)
        bounds = np.flatnonzero(np.diff(rows)) + 1
        for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(rows)]):
            if b - a > rho:                    # a row with at most rho candidates cannot break it
                model.add_constr(mip.LinExpr(x[a:b], [1.0] * (b - a)) <= rho)
    status = model.optimize()
    if status not in (mip.OptimizationStatus.OPTIMAL,):
        raise SolverUnavailable(f"integer program not solved to optimality ({status.name})")
    sol = np.array([v.x for v in x]) > 0.5
    A[rows[sol], cols[sol]] = True
    return A, used


@dataclass
class TransferResult:
    A: np.ndarray                 # (rows, kappa) selected edges
    M: np.ndarray                 # (rows, kappa) relatedness the edges were chosen on
    prototypes: np.ndarray        # (rows, D) composite rows (Eq. 6)
    empty_rows: list[int]         # rows that got no edge (fell back to the most related seen class)
    solver: str
    solve_seconds: float          # the solver alone, not the masks or the composition


SOLVERS = ("mip", "exact")


def solve(M: np.ndarray, allowed: np.ndarray, rho: int | None, solver: str = "mip",
          backend: str = "highs") -> tuple[np.ndarray, str, float]:
    """Both solvers behind one interface. Returns (A, solver actually used, seconds solving)."""
    if solver not in SOLVERS:   # protocols are checked on load; this guards direct calls
        raise UserError(f"unknown transfer solver '{solver}'; use one of {', '.join(SOLVERS)}")
    t0 = time.perf_counter()
    if solver == "mip":
        A, used = solve_mip(M, allowed, rho, backend)
        used = f"mip-{used}"
    else:
        A, used = solve_exact(M, allowed, rho), "exact"
    return A, used, time.perf_counter() - t0


def composite_prototypes(A: np.ndarray, M: np.ndarray, seen_protos: np.ndarray):
    """Eq. 6. A row without a positive-weight edge falls back to its most related seen class."""
    W = A * M
    W = np.where(W > 0, W, 0.0)
    empty = np.flatnonzero(W.sum(1) <= 0)
    for j in empty:
        W[j, np.argmax(M[j])] = 1.0
    protos = (W @ seen_protos) / W.sum(1, keepdims=True)
    return protos, empty.tolist()


def compose(M: np.ndarray, anchors: np.ndarray, theta: float | None, K: int | None, rho: int | None,
            solver: str = "mip", backend: str = "highs", constraints=ALL_CONSTRAINTS) -> TransferResult:
    """Select edges on a relatedness matrix M (rows x seen classes) under `constraints` and compose
    each row from the seen-class `anchors` (Eq. 1-6). Parameters of constraints not imposed are
    ignored (they may be None)."""
    allowed = allowed_entries(M, K, theta, constraints)
    A, used, seconds = solve(M, allowed, rho if "budget" in constraints else None, solver, backend)
    protos, empty = composite_prototypes(A, M, anchors)
    return TransferResult(A, M, protos, empty, used, seconds)


def transfer(unseen_vecs: np.ndarray, seen_vecs: np.ndarray, seen_protos: np.ndarray,
             theta: float | None, K: int | None, rho: int | None, solver: str = "mip",
             backend: str = "highs", constraints=ALL_CONSTRAINTS) -> TransferResult:
    """Compose unseen visual prototypes from seen prototypes through the relatedness program."""
    return compose(relatedness(unseen_vecs, seen_vecs), seen_protos, theta, K, rho, solver, backend,
                   constraints)
