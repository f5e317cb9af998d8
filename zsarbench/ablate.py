"""Ablations on a trained model. `constraints`: the inference variants of paper Table 8 (plus the
S-space nearest neighbour of Table 3(b)) on the same cached features, each with its own
parameters chosen by cross-validation on the seen classes (transfer/variants.py, transfer/cv.py).

It prepares data, model and features exactly as `run` does (run.prepare): after a `run` of the same
method and protocol it reads cached features and never decodes a video or loads the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .protocol import Protocol
from .results import METRIC_SCALE, SCHEMA_VERSION, new_results_path, now, provenance, write_json_atomic
from .run import RunContext, aggregate, evaluate_split, prepare, record
from .transfer.cv import cross_validate
from .transfer.variants import TABLE8, get_variant

CONSTRAINT_VARIANTS = (*TABLE8, "s-space-nn")


def ablate_constraints(method_name: str, protocol: Protocol, ctx: RunContext,
                       method_overrides: dict | None = None, overrides: dict | None = None,
                       variants=CONSTRAINT_VARIANTS, cv_memo: dict | None = None) -> tuple[dict, Path]:
    """`cv_memo`, shared across calls: CV looks at the seen classes only, so protocols that share a
    model and its seen features (synth-ucf and synth-hmdb) share its results."""
    cv_memo = {} if cv_memo is None else cv_memo
    t_start, started = time.time(), now()
    prep = prepare(method_name, protocol, ctx, method_overrides)
    P, T, R, timings = protocol, protocol.transfer, protocol.recipe, prep.timings
    sf, splits = prep.seen_feats, P.splits(len(prep.target.classes))
    rows = []
    t = time.time()
    for name in variants:
        v = get_variant(name)
        t_v = time.time()
        memo = (sf.key, prep.seen_vecs.tobytes(), name, str(T.theta), str(T.K), str(T.rho), T.cv_folds, R.seed,
                T.solver, T.mip_backend)
        cv_reused = memo in cv_memo
        if not cv_reused:
            cv_memo[memo] = cross_validate(prep.seen_vecs, sf.features, sf.labels, T.theta, T.K, T.rho,
                                            T.cv_folds, R.seed, T.solver, T.mip_backend, name, ctx.progress)
        cv = cv_memo[memo]
        per_split = [evaluate_split(prep, s, unseen, name, cv) for s, unseen in enumerate(splits)]
        rows.append({"variant": name, "label": v.label, "space": v.space, "constraints": list(v.constraints),
                     "theta": cv["theta"], "K": cv["K"], "rho": cv["rho"], "cv": cv, "cv_reused": cv_reused,
                     "aggregate": aggregate(per_split), "splits": per_split,
                     "solve_seconds": round(sum(sp.get("solve_seconds", 0.0) for sp in per_split), 4),  # splits
                     "seconds": round(time.time() - t_v, 2)})
    timings["ablation_s"] = round(time.time() - t, 2)
    timings["total_s"] = round(time.time() - t_start, 2)
    result = {**record(prep, "zsar-ablation", ctx, overrides),
              "ablation": "constraints", "solver": T.solver, "n_splits": len(splits), "variants": rows,
              "provenance": {**provenance(), "started": started, "finished": now()},
              "timings": timings}
    path = new_results_path(ctx.results_dir, P.name, f"{prep.method.name}-ablate-constraints")
    write_json_atomic(path, result)
    return result, path


# ----------------------------------------------------------------------------- the paper's ablation tables
# `zsarbench ablate architecture|components|attention|backbones|clips|embeddings`: each row is a
# (method, options, recipe, inference variant, embedding) trained or reused through run.prepare,
# scored on every protocol given (the paper's columns 0/50 and 0/100), and written as one
# "zsar-ablation" results file. Baseline and ablation methods come from the baselines/ plugin package.

# The synthetic protocols' cheap profile: what every table trains there unless --profile protocol.
# The source keeps 10 videos per class (of 60; all of them make the prototypes), warm-up 1 epoch and
# joint 0.5 epoch, and encoders of 2 layers x 128-d (option names a method does not have are left
# out): a ResNet-18 model trains and is encoded in about 1.5 CPU-minutes. Stated in each results
# file (`profile`).
CHEAP_PROTOCOL = {"synth": {"source_videos_per_class": 10}, "prototypes": {"max_videos_per_class": 10},
                  "recipe": {"warmup_epochs": 1.0, "joint_epochs": 0.5}}
CHEAP_METHOD = {"dim": 128, "depth": 2, "heads": 4}
YES = "✓"


@dataclass
class Row:
    cells: dict                   # the paper's columns of this row
    method: str
    variant: str = "all"          # inference variant (transfer/variants.py)
    options: dict = field(default_factory=dict)   # method options
    recipe: dict = field(default_factory=dict)    # recipe fields of this row (frames, test_clips)
    embedding: str = ""           # label embedding for inference ("": the protocol's)
    pretrained_from: str = ""     # a method trained (or reused) first on the same protocol; F starts from its F


def _architecture(P, emb):
    return [Row({"SE": "RNN", "ResT": "", "Transfer": YES}, "twostream_rnn18"),
            Row({"SE": "LSTM", "ResT": "", "Transfer": YES}, "twostream_lstm18"),
            Row({"SE": "Transformer", "ResT": YES, "Transfer": YES}, "rest18")]


def _components(P, emb):
    return [Row({"CLS": YES, "MLM": "", "Transfer": ""}, "rest18_cls_only", "s-space-nn"),
            Row({"CLS": "", "MLM": YES, "Transfer": ""}, "rest18_mlm_only", "s-space-nn"),
            Row({"CLS": YES, "MLM": YES, "Transfer": ""}, "rest18", "s-space-nn"),
            Row({"CLS": YES, "MLM": YES, "Transfer": YES}, "rest18")]


def _attention(P, emb):
    return [Row({"Attention": "A", "CLS": "Cross", "MLM": "Cross"}, "rest18_cross_attn"),
            Row({"Attention": "B (ResT)", "CLS": "Single", "MLM": "Cross"}, "rest18")]


def _backbones(P, emb):
    f = P.recipe.frames or 16
    return [Row({"Network": label, "Frames": f}, "rest18", options={"backbone": name})
            for label, name in (("VGG16", "vgg16"), ("MobileNetV2", "mobilenet_v2"), ("GoogLeNet", "googlenet"),
                                ("R(2+1)D", "r2plus1d_18"), ("ResNet-18 (ResT_18)", "resnet18"))]


def _clips(P, emb):
    """Frames: the methods' own (16, 8, 4 as the paper) unless the protocol fixes them (the synthetic
    recipe: 6), then ResT_34 and ResT_101 get 1/2 and 1/4 of them, as the paper's 16 : 8 : 4."""
    f = P.recipe.frames

    def row(label, method, n, clips, variant="all"):
        return Row({"Network": label, "Frames": round(f * n / 16) if f else n}, method, variant,
                   recipe={"test_clips": clips, **({"frames": round(f * n / 16)} if f else {})})
    return [row("E2E_R(2+1)D", "e2e_r2plus1d", 16, 25, "label-nn"), row("E2E_R(2+1)D", "e2e_r2plus1d", 16, 1, "label-nn"),
            row("ResT_18", "rest18", 16, 25), row("ResT_18", "rest18", 16, 1),
            row("ResT_34", "rest34", 8, 1), row("ResT_101", "rest101", 4, 1)]


def _pretrained(P, emb):
    """The paper's C3D was pretrained on Sports-1M, which shares classes with UCF101. The leak-free
    analogue: R(2+1)D-18 pretrained by the E2E baseline on the same seen source classes, then taken
    as fixed features (frozen) or trained end-to-end with ResT; beside it the same network from random
    init (the backbones table's row) and ResT_18."""
    r21d = {"backbone": "r2plus1d_18"}
    return [Row({"VE": "R(2+1)D-18, E2E on the seen source classes", "pre-trained": YES, "e2e": ""}, "rest18",
                options={**r21d, "freeze": True}, pretrained_from="e2e_r2plus1d"),
            Row({"VE": "R(2+1)D-18, E2E on the seen source classes", "pre-trained": YES, "e2e": YES}, "rest18",
                options=r21d, pretrained_from="e2e_r2plus1d"),
            Row({"VE": "R(2+1)D-18", "pre-trained": "", "e2e": YES}, "rest18", options=r21d),
            Row({"VE": "ResNet-18 (ResT_18)", "pre-trained": "", "e2e": YES}, "rest18")]


def _embeddings(P, emb):
    label = lambda e: {"glove-6b-50d": "GloVe", "minilm-l6-v2": "S2V (MiniLM)"}.get(e, "W2V" if e.startswith("word2vec:") else e)  # noqa: E731
    return ([Row({"SE": label(e), "ResT": YES, "Transfer": "", "Space": "S"}, "rest18", "s-space-nn", embedding=e) for e in emb]
            + [Row({"SE": label(e), "ResT": YES, "Transfer": YES, "Space": "V"}, "rest18", embedding=e) for e in emb])


TABLES = {  # name -> (title, rows(protocol, embeddings))
    "architecture": ("Table 3(a): importance of the Transformer architecture", _architecture),
    "components": ("Table 3(b): CLS and MLM components, with and without transfer", _components),
    "attention": ("Table 3(c): attention scheme", _attention),
    "backbones": ("Table 4(a): feature encoder backbones (random init)", _backbones),
    "clips": ("Table 4(b): accuracy-complexity trade-off (test clips, frames)", _clips),
    "embeddings": ("Table 5: ZSAR in the semantic (S) or visual (V) space per label embedding", _embeddings),
    "pretrained": ("Table 6: pretrained visual encoder, fixed or trained end-to-end", _pretrained),
}
EMBEDDINGS = ("glove-6b-50d", "minilm-l6-v2")   # + word2vec:PATH when given (ablate embeddings --word2vec)


def accepted_options(method_name: str, options: dict) -> dict:
    """The options among `options` that the method has (a table mixes methods with different ones)."""
    from .registry import create_method
    have = create_method(method_name).config()
    return {k: v for k, v in options.items() if k in have}


def ablate_table(name: str, protocols: list[Protocol], ctx: RunContext, overrides: dict | None = None,
                 profile: dict | None = None, embeddings=EMBEDDINGS, method_options: dict | None = None
                 ) -> tuple[dict, Path]:
    """Train or reuse every row's model, score it on every protocol, write one results file.
    profile: {"protocol": CHEAP_PROTOCOL, "method": CHEAP_METHOD} when `protocols` were loaded with the
    cheap profile (its method options are applied here), else None. method_options (--set method.*)
    apply to every row whose method has them."""
    import dataclasses

    from .registry import method_origin
    from .run import words_and_vectors
    from .text.embeddings import load_embedding

    title, build_rows = TABLES[name]
    t_start, started = time.time(), now()
    rows, cv_memo = [], {}
    for row in build_rows(protocols[0], embeddings):
        t_row, cells, trained = time.time(), {}, False   # trained: by this command (not a cached checkpoint)
        options = {**accepted_options(row.method, {**(profile["method"] if profile else {}), **(method_options or {})}),
                   **row.options}
        pretrained = {}
        for P in protocols:
            P = dataclasses.replace(P, recipe=dataclasses.replace(P.recipe, **row.recipe))
            if row.pretrained_from:  # trained once for protocols that share the source
                pre = prepare(row.pretrained_from, P, ctx, features=False)
                options = {**options, "pretrained": str(pre.ckpt)}
                pretrained = {"method": row.pretrained_from, "checkpoint": pre.key, "reused": pre.reused}
            prep = prepare(row.method, P, ctx, options)
            trained = trained or not prep.reused
            emb_name = row.embedding or P.embedding.name
            if emb_name != P.embedding.name:  # training classes stay those of the protocol's embedding
                emb = load_embedding(emb_name, str(ctx.cache_dir))
                prep = dataclasses.replace(prep, seen_vecs=words_and_vectors(prep.seen, emb)[1],
                                           target_vecs=words_and_vectors(prep.target, emb)[1])
            T, sf = P.transfer, prep.seen_feats
            memo = (sf.key, row.variant, emb_name, str(T.theta), str(T.K), str(T.rho), T.cv_folds, T.solver)
            if memo not in cv_memo:
                cv_memo[memo] = cross_validate(prep.seen_vecs, sf.features, sf.labels, T.theta, T.K, T.rho,
                                               T.cv_folds, P.recipe.seed, T.solver, T.mip_backend, row.variant,
                                               ctx.progress)
            cv = cv_memo[memo]
            splits = [evaluate_split(prep, s, unseen, row.variant, cv) for s, unseen in
                      enumerate(P.splits(len(prep.target.classes)))]
            cells[P.name] = {"aggregate": aggregate(splits), "splits": splits, "n_splits": len(splits),
                             "theta": cv["theta"], "K": cv["K"], "rho": cv["rho"], "cv_top1": cv["cv_top1"],
                             "features_cached": prep.target_feats.cached and prep.seen_feats.cached}
        m = prep.method
        rows.append({"cells": row.cells, "method": {"name": m.name, "space": m.space, "config": m.config(),
                                                    "origin": method_origin(m.name)},
                     "variant": row.variant, "embedding": emb_name, "recipe": row.recipe,
                     **({"pretrained_from": pretrained} if pretrained else {}),
                     "frames": P.recipe.frames or getattr(m, "frames", None), "test_clips": P.recipe.test_clips,
                     "cost": prep.cost, "checkpoint": {"key": prep.key, "path": str(prep.ckpt), "reused": not trained},
                     "training_seconds": {k: v.get("seconds") for k, v in prep.train_log.items() if isinstance(v, dict)},
                     "results": cells, "seconds": round(time.time() - t_row, 2)})
        ctx.log(f"{name}: {' | '.join(str(v) for v in row.cells.values())} done ({rows[-1]['seconds']:.0f} s)")
    result = {"schema_version": SCHEMA_VERSION, "kind": "zsar-ablation", "ablation": name, "title": title,
              "command": ctx.command, "protocols": [P.name for P in protocols],
              "protocol": [P.to_dict() for P in protocols], "overrides": overrides or {},
              "profile": profile or "the protocols' own recipe", "metric_scale": METRIC_SCALE, "rows": rows,
              "provenance": {**provenance(), "started": started, "finished": now()},
              "timings": {"total_s": round(time.time() - t_start, 2)}}
    path = new_results_path(ctx.results_dir, protocols[0].name, f"ablate-{name}")
    write_json_atomic(path, result)
    return result, path
