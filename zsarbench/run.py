"""`zsarbench run`: the benchmark pipeline, one way through, composed from its homes:

protocol -> prepare.prepare (data, overlap removal, train or reuse, cached features)
-> scoring.score_variant ((theta, K, rho) by CV on seen classes, then per split: transfer,
   nearest prototype, metrics) -> diagnostics.diagnostics (ceilings: not ZSAR results) -> results.run_document -> results/<protocol>/<method>-<UTC>.json
"""

from __future__ import annotations

import time
from pathlib import Path

from .context import RunContext
from .diagnostics import diagnostics
from .engine import curves
from .experiment import Experiment
from .prepare import prepare
from .results import run_document, run_start, write_results
from .scoring import score_variant


def inference_variant(method) -> str:
    """run's inference: the transfer for visual-space methods, the nearest unseen label embedding
    for semantic-space ones (transfer/variants.py)."""
    return "label-nn" if method.space == "semantic" else "all"


def run(exp: Experiment, ctx: RunContext, gzsl: bool = False) -> tuple[dict, Path | None]:
    """Train (or reuse) the experiment's method, score every split, write the results file (rank 0)."""
    method_name, protocol = exp.method, exp.protocol
    t_start, start = time.time(), run_start()
    started = start["started"]
    name = f"{protocol.name}/{method_name}-seed{protocol.recipe.seed}-{started.replace(':', '').replace('-', '')[:15]}Z"
    with curves.run_curves(ctx.tensorboard, name):
        prep = prepare(method_name, protocol, ctx, gzsl)
        scored = score_variant(prep, inference_variant(prep.method), ctx.progress, gzsl=gzsl, detail=True)
        curves.scalar("eval/seen_cv_top1", scored["cv"]["cv_top1"], 0)
        curves.scalar("eval/top1", scored["aggregate"].get("top1", {}).get("mean", float("nan")), 0)
    t = time.time()
    diag = diagnostics(prep)
    timings = {**prep.timings, "cv_s": scored["cv_s"], "eval_s": scored["eval_s"], "solve_s": scored["solve_s"],
               "diagnostics_s": round(time.time() - t, 2), "total_s": round(time.time() - t_start, 2)}
    doc = run_document(prep, ctx.command, ctx.device, exp.overrides, scored, start, timings, diag)
    return doc, write_results(doc, ctx, protocol.name, prep.method.name, {"run": scored["predictions"]})
