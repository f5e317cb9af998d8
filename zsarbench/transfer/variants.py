"""Inference variants of the constraint ablation (paper Table 8) and of Table 3(b)/5, one code path.

Every variant maps test features to scores over the candidate unseen classes (higher = nearer), so
evaluation, hubness and cross-validation are shared. "all" is the paper's method (and `run`'s).

  reverse          S space. The program in the other direction: rows are test videos, M = cosine of
                   the video feature to each seen prototype; constraints I and III pick the edges,
                   Eq. 6 composes a semantic representation from the seen label vectors, and the
                   nearest unseen label vector wins. Constraint II is not imposed: its rows would be
                   the other test videos, making one video's answer depend on the rest (transductive).
  none             V space. No constraint: every positively related seen class, weighted by m_ji.
  knn              V space. Constraint I only (K nearest seen labels).
  relative+budget  V space. Constraints II and III only.
  all              V space. Constraints I, II and III (the paper's transfer).
  s-space-nn       S space, no transfer (Table 3(b) without transfer): the video takes its nearest
                   seen prototype's label, then unseen labels are ranked by cosine to that label.
  label-nn         S space, for semantic-space methods (E2E-style) whose features are points in the
                   label-embedding space: unseen labels ranked by cosine to the feature itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError, did_you_mean
from ..evaluate import cosine_scores
from .program import ALL_CONSTRAINTS, TransferResult, compose, relatedness, transfer


@dataclass(frozen=True)
class Variant:
    name: str
    label: str                    # row name in the Table 8 layout
    space: str                    # "V" (visual) or "S" (semantic): where the nearest neighbour is taken
    constraints: tuple            # constraints imposed on the program (subset of ALL_CONSTRAINTS)
    params: tuple                 # which of theta, K, rho it uses (chosen by CV on seen classes)


VARIANTS = {v.name: v for v in (
    Variant("reverse", "Reverse transfer", "S", ("knn", "budget"), ("K", "rho")),
    Variant("none", "No constraint", "V", (), ()),
    Variant("knn", "Constraint I", "V", ("knn",), ("K",)),
    Variant("relative+budget", "Constraint II + III", "V", ("relative", "budget"), ("theta", "rho")),
    Variant("all", "All constraints", "V", ALL_CONSTRAINTS, ("theta", "K", "rho")),
    Variant("s-space-nn", "S-space nearest neighbour", "S", (), ()),
    Variant("label-nn", "Nearest unseen label embedding", "S", (), ()),
)}
TABLE8 = ("reverse", "none", "knn", "relative+budget", "all")


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserError(f"unknown inference variant '{name}'{did_you_mean(name, VARIANTS)}; "
                        f"variants are {', '.join(VARIANTS)}")
    return VARIANTS[name]


def unseen_scores(variant: str, feats: np.ndarray, seen_protos: np.ndarray, seen_vecs: np.ndarray,
                  unseen_vecs: np.ndarray, theta=None, K=None, rho=None, solver: str = "mip",
                  backend: str = "highs") -> tuple[np.ndarray, TransferResult | None]:
    """(N, gamma) scores of test features over unseen classes, and the program's result (if any)."""
    v = get_variant(variant)
    if v.name == "label-nn":
        return cosine_scores(feats, unseen_vecs), None
    if v.name == "s-space-nn":
        nearest_seen = np.argmax(cosine_scores(feats, seen_protos), axis=1)
        return relatedness(unseen_vecs, seen_vecs)[:, nearest_seen].T, None
    if v.name == "reverse":
        res = compose(cosine_scores(feats, seen_protos), seen_vecs, theta, K, rho, solver, backend,
                      v.constraints)
        return cosine_scores(res.prototypes, unseen_vecs), res
    res = transfer(unseen_vecs, seen_vecs, seen_protos, theta, K, rho, solver, backend, v.constraints)
    return cosine_scores(feats, res.prototypes), res
