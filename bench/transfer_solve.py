"""Solve time of the transfer program, integer program (python-mip) vs the exact row-wise solver.

    python bench/transfer_solve.py                    # 100 unseen x 605 seen (ActivityNet-sized 0/50 x K605)
    python bench/transfer_solve.py --gamma 51 --kappa 664 --repeats 9

The relatedness matrix comes from label-like vectors: 300-d, sharing a common direction as averaged
word vectors do (cosines around 0.2, a few far higher). Both solvers run on the same instances in
one process; the objective values are checked equal. Times are the solver alone (median of repeats),
for the paper's program (constraints I-III) and for the unconstrained one (every entry a variable).
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np

from zsarbench.transfer.program import ALL_CONSTRAINTS, allowed_entries, solve


def label_like(rng, common: np.ndarray, n: int) -> np.ndarray:
    d = len(common)
    v = 0.5 * common / np.linalg.norm(common) + rng.normal(size=(n, d)) / np.sqrt(d)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gamma", type=int, default=100)
    ap.add_argument("--kappa", type=int, default=605)
    ap.add_argument("--theta", type=float, default=0.7)
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--rho", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backend", default="highs", choices=["highs", "cbc"])
    a = ap.parse_args()

    rng = np.random.default_rng(0)
    common = rng.normal(size=300)
    M = label_like(rng, common, a.gamma) @ label_like(rng, common, a.kappa).T
    report = {"shape": [a.gamma, a.kappa], "theta": a.theta, "K": a.K, "rho": a.rho, "repeats": a.repeats,
              "cosine_mean": round(float(M.mean()), 3), "cpu": platform.processor() or platform.machine()}
    solve(M[:2, :3], np.ones((2, 3), dtype=bool), 1, "mip", a.backend)   # load the MIP library once
    for name, constraints, rho in (("program_I_II_III", ALL_CONSTRAINTS, a.rho), ("unconstrained", (), None)):
        allowed = allowed_entries(M, a.K, a.theta, constraints)
        times, objective = {}, {}
        for solver in ("mip", "exact"):
            ts = []
            for _ in range(a.repeats):
                A, used, seconds = solve(M, allowed, rho, solver, a.backend)
                ts.append(seconds)
            times[used], objective[used] = float(np.median(ts)), float((M * A).sum())
        (mip_name, t_mip), (_, t_exact) = times.items()
        vals = list(objective.values())
        assert abs(vals[0] - vals[1]) < 1e-6, f"solvers disagree: {objective}"
        report[name] = {"variables": int(allowed.sum()), "objective": round(vals[0], 6),
                        f"{mip_name}_ms": round(1e3 * t_mip, 3), "exact_ms": round(1e3 * t_exact, 3),
                        "mip_over_exact": round(t_mip / t_exact, 1)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
