"""How each paper table is laid out in the report: its grids, their columns (a protocol per
benchmark), rows and cells. What a table is (title, parts, headings, rows, the paper's numbers)
is declared in paper_tables.py; this module only arranges results into it."""

from __future__ import annotations

from ..paper_tables import CONSTRAINT_ROWS, NOT_TABLE8, PARTS, embedding_label
from . import tuned
from .cells import Cell, Grid, display, run_cell
from .load import Result

# protocol of each (target, split) column on each benchmark; a missing key: none on that benchmark
PROTOCOLS = {
    "synthetic": {"ucf-0/50": "synth-ucf-0-50", "ucf-0/100": "synth-ucf-0-100",
                  "hmdb-0/50": "synth-hmdb-0-50", "hmdb-0/100": "synth-hmdb-0-100"},
    "real": {"ucf-0/50": "ucf101-0-50", "ucf-0/100": "ucf101-0-100", "hmdb-0/50": "hmdb51-0-50",
             "hmdb-0/100": "hmdb51-0-100", "ucf-k605-0/50": "ucf101-k605-0-50",
             "ucf-k605-0/100": "ucf101-k605-0-100", "hmdb-k605-0/50": "hmdb51-k605-0-50",
             "hmdb-k605-0/100": "hmdb51-k605-0-100", "anet-0/50": "activitynet-0-50",
             "anet-0/100": "activitynet-0-100", "ucf-k400-0/50": "ucf101-k400-0-50",
             "ucf-k700-0/50": "ucf101-k700-0-50", "hmdb-k400-0/50": "hmdb51-k400-0-50",
             "hmdb-k700-0/50": "hmdb51-k700-0-50"},
}


def _methods(R: list[Result], protocols: list[str], required: tuple) -> list[tuple]:
    """(method, embedding, class names): the required methods under their protocols' embedding and the
    dataset rules, then any other method, label embedding (--embedding) or class-name file with a
    plain run on one of the protocols."""
    found = {(r.method, r.embedding, r.names) for r in R if r.kind == "zsar-run" and r.protocol in protocols
             and not r.overrides()}
    required = [(m, None, None) for m in required]
    return [*required, *sorted(found - set(required), key=lambda me: (me[0], me[1] or "", me[2] or ""))]


def _variants(R: list[Result], ablation: str, protocols: list[str]) -> list[dict]:
    """The rows of an ablation on any of the protocols (the latest file's version of each), in the
    order the files list them; a row scored on a tuned overlay (`tuned` True) right after its untuned
    version, a row of its own."""
    out: dict[tuple, dict] = {}
    for r in sorted((r for r in R if r.kind == "zsar-ablation" and r.ablation == ablation),
                    key=lambda r: (r.finished, r.path)):
        for p in protocols:
            for row in r.rows(p):
                out[(row["key"], bool(r.tuned(p)))] = {**row, "tuned": bool(r.tuned(p))}
    order = list(dict.fromkeys(k for k, _ in out))
    return [out[k] for k in sorted(out, key=lambda k: (order.index(k[0]), k[1]))]


def _cost(row: dict) -> str:
    """'GMAC x test clips' of an ablation row that records its forward cost (run.clip_cost)."""
    c = row.get("cost") or {}
    return f"{c['gmac_per_clip']:.3g} × {c['test_clips']}" if c.get("measured") else ""


def _per_method(bench, R, cols, required, metric="top1"):
    """A row per method (and label embedding); below a method with runs of a tuned overlay on these
    protocols, its tuned row (report/tuned.py: label with the budget)."""
    P = PROTOCOLS[bench]
    protocols = [P[c] for c in cols if c in P]
    rows = []
    for m, e, names in _methods(R, protocols, required):
        name = f"{display(m)} ({m}" + (f"; {embedding_label(e)}" if e else "") + (f"; class names {names}" if names else "")
        rows.append([f"{name})", *[run_cell(P.get(c), m, metric, e, names=names) for c in cols]])
        if e is None and names is None and (found := tuned.records(R, m, protocols)):
            rows.append([f"{name}; {tuned.label(found)})", *[run_cell(P.get(c), m, metric, tuned=True) for c in cols]])
    return rows


def _ablation_grid(bench, R, title, ablation, cols, extra=()) -> Grid:
    """Rows: the ablation's rows found in results, with the paper's text columns (`cells`) they
    carry; one placeholder row before there is any."""
    P = PROTOCOLS[bench]
    protocols = [P[c] for c in cols if c in P]
    rows = _variants(R, ablation, protocols) or [{"key": None, "cells": {"row": "(all rows of the ablation)"}}]
    text = list(dict.fromkeys(k for row in rows for k in row["cells"]))
    header = [*text, *[h for h, _ in extra], *[f"{c.split('-', 1)[1]} ({P.get(c, 'n/a')})" for c in cols]]
    def cells(row):
        labels = [row["cells"].get(k, "") for k in text]
        if row.get("tuned"):
            labels[0] = f"{labels[0]} (tuned)"
        return labels
    return Grid(title, header, [[*cells(row), *[f(row) for _, f in extra],
                                 *[Cell(P.get(c), None, ablation=ablation, variant=row["key"],
                                        tuned=bool(row.get("tuned"))) for c in cols]]
                                for row in rows])


def t1(bench, R):
    part = PARTS["table1"]
    return [Grid(part.heading, ["method", *[f"{n} ({PROTOCOLS[bench][c]})" for n, c in
                                           (("UCF101", "ucf-0/50"), ("HMDB51", "hmdb-0/50"))]],
                 _per_method(bench, R, ["ucf-0/50", "hmdb-0/50"], part.methods))]


def t2(bench, R):
    part = PARTS["table2"]
    cols = ["ucf-0/50", "ucf-0/100", "hmdb-0/50", "hmdb-0/100", "anet-0/50", "anet-0/100"]
    if bench == "real":
        cols = [c.replace("ucf-", "ucf-k605-").replace("hmdb-", "hmdb-k605-") for c in cols]
    names = ["UCF101 0/50", "UCF101 0/100", "HMDB51 0/50", "HMDB51 0/100", "ActivityNet 0/50", "ActivityNet 0/100"]
    P = PROTOCOLS[bench]
    return [Grid(part.heading, ["method", *[f"{n} ({P.get(c, 'n/a')})" for n, c in zip(names, cols)]],
                 _per_method(bench, R, cols, part.methods))]


UCF = ["ucf-0/50", "ucf-0/100"]
COST = (("GMAC × clips", _cost),)


def _parts(*names, cols=UCF, extra=()):
    return lambda bench, R: [_ablation_grid(bench, R, PARTS[n].heading, n, cols, extra) for n in names]


def t7(bench, R):
    P, heading = PROTOCOLS[bench], PARTS["table7"].heading
    metrics = [("top-1", "top1"), ("top-5", "top5")]
    header = ["training classes", *[f"{n} {k} ({P[f'{t}-0/50']})" for t, n in (("ucf", "UCF101"), ("hmdb", "HMDB51"))
                                     for k, _ in metrics]]
    if bench == "synthetic":
        rows = [("overlap with the targets removed (protocol default)", {}),
                ("all source classes (no overlap removal)", {"source__remove_overlap_with": [],
                                                             "accept": ("class-overlap",)})]
        return [Grid(heading.format(model="ResT_18"), header,
                     [[label, *[run_cell(P[f"{t}-0/50"], "rest18", m, **o) for t in ("ucf", "hmdb") for _, m in metrics]]
                      for label, o in rows])]
    rows = [("K664 (overlap removed)", ""), ("K400 (no removal)", "-k400"), ("K700 (no removal)", "-k700")]
    return [Grid(heading.format(model="ResT_101"), header,
                 [[label, *[run_cell(P[f"{t}{k}-0/50"], "rest101", m) for t in ("ucf", "hmdb") for _, m in metrics]]
                  for label, k in rows])]


def t8(bench, R):
    """One grid per target; a row's label and space as its results file states them (the variant's
    name before there is one)."""
    P, grids, heading = PROTOCOLS[bench], [], PARTS["constraints"].heading
    metrics = [("skew psi_1 (Eq. 10)", "hubness.k1.skew_paper_eq10"), ("skew psi_1 (sample)", "hubness.k1.skew_sample"),
               ("top-1", "top1"), ("top-5", "top5")]
    found = {row["key"]: row for row in _variants(R, "constraints", list(P.values()))}
    for title, t in (("(a) UCF101", "ucf"), ("(b) HMDB51", "hmdb"), ("(c) ActivityNet", "anet")):
        p = P.get(f"{t}-0/50")
        rows = []
        for v in CONSTRAINT_ROWS:
            row = found.get(v, {"label": v, "cells": {}})
            space = row["cells"].get("space", "")
            rows.append([row["label"] + NOT_TABLE8.get(v, ""), space,
                         *[Cell(p, "rest18", m, "constraints", v) for _, m in metrics]])
        grids.append(Grid(heading.format(title=title, protocol=p or "n/a"), ["variant", "space", *[h for h, _ in metrics]],
                          rows))
    return grids


def t9(bench, R):
    P = PROTOCOLS[bench]
    blocks = [("K664", ["ucf-0/50", "hmdb-0/50", None])]
    if bench == "real":
        blocks.append(("K605", ["ucf-k605-0/50", "hmdb-k605-0/50", "anet-0/50"]))
    rows = []
    for subset, cols in blocks:
        label = subset if bench == "real" else "S-ucf-hmdb"
        rows += [[label, display(m), *[run_cell(P.get(c), m) for c in cols]] for m in PARTS["table9"].methods]
        rows.append([label, "object-region features", *[Cell(None)] * 3])
    return [Grid(PARTS["table9"].heading, ["training set", "model", "UCF101", "HMDB51", "ActivityNet"], rows)]


# How each paper table is laid out in the report: (benchmark, results) -> its grids
LAYOUTS = {"table1": t1, "table2": t2, "table3": _parts("architecture", "components", "attention"),
           "table4": _parts("backbones", "clips", extra=COST), "table5": _parts("embeddings"),
           "table6": _parts("pretrained", cols=["ucf-0/50", "hmdb-0/50"]), "table7": t7, "table8": t8, "table9": t9}
