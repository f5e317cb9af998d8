"""`zsarbench ablate NAME`: one part of a paper table (paper_tables.py declares its rows), as one
"zsar-ablation" results file. Each row is a (method, options, recipe, inference variant, embedding)
trained or reused through prepare.prepare and scored on every protocol given (the table's columns).

Models are prepared exactly as `run` prepares them: after a `run` of the same method and protocol an
ablation reads cached features and never decodes a video or loads the network.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from .context import RunContext
from .experiment import Experiment, resolve
from .paper_tables import EMBEDDINGS, get_ablation
from .prepare import prepare, relabel
from .protocol import deep_merge, load_protocol
from .registry import create_method
from .results import ablation_document, ablation_row, row_key, run_start, write_results
from .scoring import score_variant, table_cell

# The synthetic protocols' cheap profile: what a table trains there unless --profile protocol (or the
# part says cheap=False). The source keeps 10 videos per class (of 60; all of them make the
# prototypes), warm-up 1 epoch and joint 0.5 epoch, and encoders of 2 layers x 128-d (option names a
# method does not have are left out): a ResNet-18 model trains and is encoded in about 1.5 CPU-minutes.
# Stated in each results file (`profile`).
CHEAP_PROTOCOL = {"synth": {"source_videos_per_class": 10}, "prototypes": {"max_videos_per_class": 10},
                  "recipe": {"warmup_epochs": 1.0, "joint_epochs": 0.5}}
CHEAP_METHOD = {"dim": 128, "depth": 2, "heads": 4}
PROFILES = ("auto", "cheap", "protocol")


def ablation_experiments(name: str, method: str, protocol_names, overrides: dict, profile: str = "auto"
                         ) -> tuple[list[Experiment], dict | None]:
    """The experiments of an ablation, one per protocol (all built, so every bad name fails before any
    work) under its profile: cheap, the protocols' own recipe, or auto (cheap when every protocol is
    synthetic and the part trains its own models). Returns them and the profile to record (None: own).
    `method` (-m) is the model whose inference the constraints rows vary: resolved against it there;
    other parts' rows each have their own method, and prepare resolves each row's protocol for it."""
    plain = [load_protocol(p, overrides) for p in protocol_names]
    cheap = profile == "cheap" or (profile == "auto" and get_ablation(name).cheap
                                   and all(p.source.dataset.startswith("synth-") for p in plain))
    protocols = [load_protocol(p, deep_merge(CHEAP_PROTOCOL, overrides)) for p in protocol_names] if cheap else plain
    own = name == "constraints"
    return ([Experiment(method, resolve(method, P) if own else P, overrides) for P in protocols],
            {"protocol": CHEAP_PROTOCOL, "method": CHEAP_METHOD} if cheap else None)


def accepted_options(method_name: str, options: dict) -> dict:
    """The options among `options` that the method has (a table mixes methods with different ones)."""
    have = create_method(method_name).config()
    return {k: v for k, v in options.items() if k in have}


def ablate(name: str, experiments: list[Experiment], ctx: RunContext, profile: dict | None = None,
           embeddings=EMBEDDINGS) -> tuple[dict, Path | None]:
    """Train or reuse every row's model, score it on every protocol (one experiment each), write one
    results file. The experiments' method: the model of parts whose rows vary its inference
    (constraints). profile: the cheap profile when the protocols were loaded with it (its method
    options are applied here), else None. The protocols' method options (their [method] table and
    --set method.*) apply to every row whose method has them."""
    part = get_ablation(name)
    method, overrides = experiments[0].method, experiments[0].overrides
    protocols = [exp.protocol for exp in experiments]
    t_start, start = time.time(), run_start()
    rows, cv_memo, predictions = [], {}, {}
    for row in part.rows(protocols[0], embeddings, method):
        t_row, cells, trained, pretrained = time.time(), {}, False, None
        for P in protocols:
            options = {**accepted_options(row.method, {**(profile["method"] if profile else {}), **P.method}),
                       **row.options}
            P = dataclasses.replace(P, recipe=dataclasses.replace(P.recipe, **row.recipe))
            if row.pretrained_from:  # trained once for protocols that share the source
                pre = prepare(row.pretrained_from, dataclasses.replace(
                    P, method=accepted_options(row.pretrained_from, P.method)), ctx, features=False)
                options = {**options, "pretrained": str(pre.ckpt)}
                pretrained = {"method": row.pretrained_from, "checkpoint": pre.key, "reused": pre.reused}
            prep = prepare(row.method, dataclasses.replace(P, method=options), ctx)
            trained = trained or not prep.reused
            emb_name = row.embedding or P.embedding.name
            vecs = {}
            if emb_name != P.embedding.name:  # training classes stay those of the protocol's embedding
                data = relabel(prep.data, emb_name, ctx.cache_dir)
                vecs = {"seen_vecs": data.seen_vecs, "target_vecs": data.target_vecs}
            scored = score_variant(prep, row.variant, ctx.progress, cv_memo, **vecs)
            cells[P.name] = table_cell(scored, prep.target_feats.cached and prep.seen_feats.cached)
            group = f"{row.id}@{P.name}" if f"{row.id}@{P.name}" not in predictions else f"{len(rows)}:{row.id}@{P.name}"
            predictions[group] = scored["predictions"]      # the row's per-video predictions (predictions.py)
            cells[P.name]["predictions"] = group
        # rows of one model differ only in their inference: the variant names them (as in version 1)
        key = row.variant if name == "constraints" else row_key(row.cells, prep.method.name, row.variant,
                                                                 emb_name, row.recipe)
        rows.append(ablation_row(row.id, key, row.cells, prep, row.variant, emb_name, row.recipe, cells,
                                 time.time() - t_row, trained, pretrained))
        ctx.log(f"{name}: {' | '.join(str(v) for v in row.cells.values())} done ({rows[-1]['seconds']:.0f} s)")
    doc = ablation_document(name, f"Table {part.label}: {part.title}", protocols, rows, ctx.command, overrides, profile,
                            start, {"total_s": round(time.time() - t_start, 2)})
    stem = f"{method}-ablate-{name}" if name == "constraints" else f"ablate-{name}"
    return doc, write_results(doc, ctx, protocols[0].name, stem, predictions)
