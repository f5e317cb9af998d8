"""Did a training stage learn? Its final loss against the loss of a uniform guess.

A classification loss that ends where a uniform guess over the classes starts (cross-entropy ln C)
trained nothing: e.g. untuned ResT_101's warm-up stayed at ln 38 = 3.64 for all its 429 steps on
the synthetic benchmark, so its F never learned and every number from that model measures an
untrained network. A run records, per stage, its final loss (the mean over the stage's last
epoch: the loss the training log keeps), the uniform-guess loss its method declares for it
(Method.chance_losses) and the verdict; the report marks every cell of such a run "did not train"
and the orderings do not test its row. Pure functions of the training log (no torch): the report
applies the same rule to results files written before runs recorded it (report/load.py).
"""

from __future__ import annotations

import math

# A stage "did not train" when its final loss is at least this share of the uniform-guess loss.
NOT_TRAINED_FRACTION = 0.98
RULE = (f"a stage did not train when its final loss (mean over its last epoch) is >= {NOT_TRAINED_FRACTION:g} x the "
        "loss of a uniform guess (cross-entropy: ln of the class count)")


def stage_verdicts(log: dict, chance: dict) -> dict:
    """{stage: {final_loss, chance_loss, learned}} for each stage of a training log whose loss has a
    uniform-guess level in `chance` ({stage: loss}; stages without one are not judged)."""
    out = {}
    for stage, level in chance.items():
        losses = (log.get(stage) or {}).get("loss_per_epoch") if isinstance(log.get(stage), dict) else None
        if not losses or level is None:
            continue
        final = float(losses[-1])
        out[stage] = {"final_loss": round(final, 5), "chance_loss": round(float(level), 5),
                      "learned": bool(final < NOT_TRAINED_FRACTION * level)}
    return out


def verdict(log: dict, chance: dict) -> dict:
    """The run document's `training_verdict`: per stage, and `did_not_train` (the stages that did not)."""
    stages = stage_verdicts(log, chance)
    return {"stages": stages, "did_not_train": [s for s, v in stages.items() if not v["learned"]], "rule": RULE}


def warmup_fallback(log: dict, n_seen_classes: int) -> dict:
    """For a results file from before runs recorded the verdict: every warm-up stage in this project
    (ResT, its ablations, the two-stream models) is a cross-entropy over the seen classes, so its
    uniform-guess loss is ln(seen classes); other stages are not judged."""
    chance = {"warmup": math.log(n_seen_classes)} if n_seen_classes > 1 and "warmup" in log else {}
    return verdict(log, chance)
