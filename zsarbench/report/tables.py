"""The paper's Tables 1-9 from results/**/*.json, as Markdown and LaTeX (`zsarbench tables`).

Each table has up to three blocks, never mixed: ours on the synthetic benchmark (always shown),
ours on the real datasets (shown once any of its cells has a result), and the numbers the paper
reports (paper.toml, real datasets). A cell is a `Cell`: which results fill it. One run: mean +- std
over its splits. Several runs of one cell (same method, protocol and overrides; the seed may
differ): mean +- std over the runs' means, with their count. "-" is a cell no result fills yet (the
table lists the command that would), "n/a" one with no protocol on that benchmark.

The output depends on the results files alone (no clock, no absolute path, sorted order), so
`zsarbench tables` regenerates committed tables byte for byte.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..transfer.variants import TABLE8, VARIANTS
from .load import Result

PAPER = tomllib.loads((Path(__file__).with_name("paper.toml")).read_text())
BENCHMARKS = {"synthetic": "Ours: synthetic benchmark (synth-ucf and synth-hmdb stand in for UCF101 and HMDB51; "
                           "source synth-kinetics with the overlapping classes removed)",
              "real": "Ours: real datasets"}
NAMES = {"rest18": "ResT_18", "rest34": "ResT_34", "rest101": "ResT_101", "e2e_r2plus1d": "E2E_R(2+1)D"}

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
CELL_NOTE = ("One run: mean ± std over its splits (0/100 has one split). n runs of one cell (same method, "
             "protocol and overrides; seeds may differ): mean ± std over the runs' means (n=runs); a model "
             "evaluated again (same checkpoint) counts once, its latest result. Std is the population std. Percent unless the column says otherwise. \"-\": no result yet; \"n/a\": no "
             "such protocol on this benchmark.")


def display(method: str) -> str:
    return NAMES.get(method, method)


# ----------------------------------------------------------------------------- cells

@dataclass(frozen=True)
class Cell:
    """Which results fill one cell: a plain `run` (ablation None) or one row of an ablation."""
    protocol: str | None            # None: no such protocol on this benchmark
    method: str | None = "rest18"   # None: any method (ablations that compare methods)
    metric: str = "top1"            # dotted path into an `aggregate`
    ablation: str | None = None
    variant: str | None = None      # the ablation's row (`key` of Result.rows)
    overrides: tuple = ()           # (("section.key", JSON text), ...): must equal the run's, seed aside

    def matches(self, r: Result) -> bool:
        if self.protocol not in r.protocols or (self.method is not None and r.method != self.method):
            return False
        if {k: json.dumps(v) for k, v in r.overrides().items()} != dict(self.overrides):
            return False
        if self.ablation is None:
            return r.kind == "zsar-run"
        return r.kind == "zsar-ablation" and r.ablation == self.ablation and self.row(r) is not None

    def row(self, r: Result) -> dict | None:
        return next((v for v in r.rows(self.protocol) if v["key"] == self.variant), None)

    def model(self, r: Result) -> str:
        """The trained model behind this cell's number in r (its checkpoint key)."""
        key = (r.data.get("checkpoint") or {}).get("key") if self.ablation is None else self.row(r)["checkpoint"]
        return key or r.path

    def value(self, r: Result) -> dict | None:
        agg = r.data["aggregate"] if self.ablation is None else self.row(r)["aggregate"]
        for part in self.metric.split("."):
            agg = agg.get(part) if isinstance(agg, dict) else None
        return agg

    def command(self) -> str:
        sets = "".join(f" --set {k}={v}" for k, v in self.overrides)
        if self.ablation is None:
            return f"zsarbench run {self.method} -p {self.protocol}{sets}"
        m = f" -m {self.method}" if self.method not in (None, "rest18") else ""
        return f"zsarbench ablate {self.ablation} -p {self.protocol}{m}{sets}"


def run_cell(protocol, method="rest18", metric="top1", **overrides) -> Cell:
    return Cell(protocol, method, metric,
                overrides=tuple(sorted((k.replace("__", "."), json.dumps(v)) for k, v in overrides.items())))


def fmt_cell(values: list[dict], decimals: int) -> str:
    """values: the cell's aggregate of each matching run ({mean, std, n})."""
    if not values:
        return "-"
    means = [v.get("mean") for v in values]
    if any(m is None for m in means):
        return "undefined"
    if len(values) == 1:
        v = values[0]
        spread = f" ± {v['std']:.{decimals}f}" if v.get("n", 1) > 1 and v.get("std") is not None else ""
        return f"{means[0]:.{decimals}f}{spread}"
    a = np.asarray(means, dtype=np.float64)
    return f"{a.mean():.{decimals}f} ± {a.std():.{decimals}f} (n={len(a)})"


# ----------------------------------------------------------------------------- tables

@dataclass
class Grid:
    title: str
    header: list[str]
    rows: list[list]                # each cell: text, or a Cell


@dataclass
class Table:
    key: str                        # file stem: table1 ...
    title: str
    build: object                   # (benchmark, results) -> list[Grid]
    paper: tuple = ()               # paper.toml sections
    notes: tuple = ()
    grids: dict = field(default_factory=dict)


def _methods(R: list[Result], protocols: list[str], required: tuple) -> list[str]:
    """The required methods, then any other method with a plain run on one of the protocols."""
    found = {r.method for r in R if r.kind == "zsar-run" and r.protocol in protocols and not r.overrides()}
    return [*required, *sorted(found - set(required))]


def _variants(R: list[Result], ablation: str, protocols: list[str]) -> list[dict]:
    """The rows of an ablation on any of the protocols (the latest file's version of each), in the
    order the files list them."""
    out: dict[str, dict] = {}
    for r in sorted((r for r in R if r.kind == "zsar-ablation" and r.ablation == ablation),
                    key=lambda r: (r.finished, r.path)):
        for p in protocols:
            for row in r.rows(p):
                out[row["key"]] = row
    return list(out.values())


def _cost(row: dict) -> str:
    """'GMAC x test clips' of an ablation row that records its forward cost (run.clip_cost)."""
    c = row.get("cost") or {}
    return f"{c['gmac_per_clip']:.3g} × {c['test_clips']}" if c.get("measured") else ""


def _per_method(bench, R, cols, required, metric="top1"):
    P = PROTOCOLS[bench]
    protocols = [P[c] for c in cols if c in P]
    return [[f"{display(m)} ({m})", *[run_cell(P.get(c), m, metric) for c in cols]]
            for m in _methods(R, protocols, required)]


def _ablation_grid(bench, R, title, ablation, cols, extra=()) -> Grid:
    """Rows: the ablation's rows found in results, with the paper's text columns (`cells`) they
    carry; one placeholder row before there is any."""
    P = PROTOCOLS[bench]
    protocols = [P[c] for c in cols if c in P]
    rows = _variants(R, ablation, protocols) or [{"key": None, "cells": {"row": "(all rows of the ablation)"}}]
    text = list(dict.fromkeys(k for row in rows for k in row["cells"]))
    header = [*text, *[h for h, _ in extra], *[f"{c.split('-', 1)[1]} ({P.get(c, 'n/a')})" for c in cols]]
    return Grid(title, header, [[*[row["cells"].get(k, "") for k in text], *[f(row) for _, f in extra],
                                 *[Cell(P.get(c), None, ablation=ablation, variant=row["key"]) for c in cols]]
                                for row in rows])


def t1(bench, R):
    return [Grid("0/50, top-1 (%)", ["method", *[f"{n} ({PROTOCOLS[bench][c]})" for n, c in
                                                  (("UCF101", "ucf-0/50"), ("HMDB51", "hmdb-0/50"))]],
                 _per_method(bench, R, ["ucf-0/50", "hmdb-0/50"], ("rest18", "rest34", "rest101")))]


def t2(bench, R):
    cols = ["ucf-0/50", "ucf-0/100", "hmdb-0/50", "hmdb-0/100", "anet-0/50", "anet-0/100"]
    if bench == "real":
        cols = [c.replace("ucf-", "ucf-k605-").replace("hmdb-", "hmdb-k605-") for c in cols]
    names = ["UCF101 0/50", "UCF101 0/100", "HMDB51 0/50", "HMDB51 0/100", "ActivityNet 0/50", "ActivityNet 0/100"]
    P = PROTOCOLS[bench]
    return [Grid("top-1 (%)", ["method", *[f"{n} ({P.get(c, 'n/a')})" for n, c in zip(names, cols)]],
                 _per_method(bench, R, cols, ("e2e_r2plus1d", "rest18", "rest101")))]


UCF = ["ucf-0/50", "ucf-0/100"]


def t3(bench, R):
    return [_ablation_grid(bench, R, "(a) architecture, top-1 (%)", "architecture", UCF),
            _ablation_grid(bench, R, "(b) CLS and MLM components, top-1 (%)", "components", UCF),
            _ablation_grid(bench, R, "(c) attention scheme, top-1 (%)", "attention", UCF)]


def t4(bench, R):
    extra = (("GMAC × clips", _cost),)
    return [_ablation_grid(bench, R, "(a) feature encoder backbones, top-1 (%)", "backbones", UCF, extra),
            _ablation_grid(bench, R, "(b) accuracy-complexity trade-off, top-1 (%)", "clips", UCF, extra)]


def t5(bench, R):
    return [_ablation_grid(bench, R, "ZSAR in the semantic (S) or visual (V) space, top-1 (%)", "embeddings", UCF)]


def t6(bench, R):
    return [_ablation_grid(bench, R, "0/50, top-1 (%)", "pretrained", ["ucf-0/50", "hmdb-0/50"])]


def t7(bench, R):
    P = PROTOCOLS[bench]
    metrics = [("top-1", "top1"), ("top-5", "top5")]
    header = ["training classes", *[f"{n} {k} ({P[f'{t}-0/50']})" for t, n in (("ucf", "UCF101"), ("hmdb", "HMDB51"))
                                     for k, _ in metrics]]
    if bench == "synthetic":
        rows = [("overlap with the targets removed (protocol default)", {}),
                ("all source classes (no overlap removal)", {"source__remove_overlap_with": []})]
        return [Grid("ResT_18, 0/50 (%)", header,
                     [[label, *[run_cell(P[f"{t}-0/50"], "rest18", m, **o) for t in ("ucf", "hmdb") for _, m in metrics]]
                      for label, o in rows])]
    rows = [("K664 (overlap removed)", ""), ("K400 (no removal)", "-k400"), ("K700 (no removal)", "-k700")]
    return [Grid("ResT_101, 0/50 (%)", header,
                 [[label, *[run_cell(P[f"{t}{k}-0/50"], "rest101", m) for t in ("ucf", "hmdb") for _, m in metrics]]
                  for label, k in rows])]


def t8(bench, R):
    P, grids = PROTOCOLS[bench], []
    metrics = [("skew psi_1 (Eq. 10)", "hubness.k1.skew_paper_eq10"), ("skew psi_1 (sample)", "hubness.k1.skew_sample"),
               ("top-1", "top1"), ("top-5", "top5")]
    for title, t in (("(a) UCF101", "ucf"), ("(b) HMDB51", "hmdb"), ("(c) ActivityNet", "anet")):
        p = P.get(f"{t}-0/50")
        grids.append(Grid(f"{title} 0/50 ({p or 'n/a'})", ["variant", "space", *[h for h, _ in metrics]],
                          [[VARIANTS[v].label + ("" if v in TABLE8 else " (Table 3(b), no transfer)"),
                            VARIANTS[v].space, *[Cell(p, "rest18", m, "constraints", v) for _, m in metrics]]
                           for v in (*TABLE8, "s-space-nn")]))
    return grids


def t9(bench, R):
    P = PROTOCOLS[bench]
    blocks = [("K664", ["ucf-0/50", "hmdb-0/50", None])]
    if bench == "real":
        blocks.append(("K605", ["ucf-k605-0/50", "hmdb-k605-0/50", "anet-0/50"]))
    rows = []
    for subset, cols in blocks:
        label = subset if bench == "real" else "S-ucf-hmdb"
        rows += [[label, display(m), *[run_cell(P.get(c), m) for c in cols]] for m in ("rest18", "rest101")]
        rows.append([label, "object-region features", *[Cell(None)] * 3])
    return [Grid("0/50, top-1 (%)", ["training set", "model", "UCF101", "HMDB51", "ActivityNet"], rows)]


TABLES = [
    Table("table1", "Table 1. Comparison on the 50% classes of UCF101 and HMDB51 (0/50)", t1, ("table1",)),
    Table("table2", "Table 2. 0/50 and 0/100 on three targets", t2, ("table2",),
          ("Synthetic: the source removes overlap with synth-ucf and synth-hmdb (there is no synthetic "
           "ActivityNet); real: the K605 protocols.",)),
    Table("table3", "Table 3. Transformer model (UCF101)", t3, ("table3a", "table3b", "table3c"),
          ("Rows come from `zsarbench ablate architecture|components|attention`.",)),
    Table("table4", "Table 4. Feature extractor backbone (UCF101)", t4, ("table4a", "table4b"),
          ("Rows come from `zsarbench ablate backbones|clips`. Cost: forward GMAC (multiply-accumulates, what "
           "the paper calls GFLOPs) per test clip x test clips, as each row's `cost` records it.",)),
    Table("table5", "Table 5. ZSAR in semantic or visual space (UCF101)", t5, ("table5",),
          ("Rows come from `zsarbench ablate embeddings`.",)),
    Table("table6", "Table 6. With and without pretrained features and end-to-end training", t6, ("table6",),
          ("Rows come from `zsarbench ablate pretrained`. The paper's C3D was pretrained on Sports-1M, which shares "
           "classes with UCF101; here the pretrained encoder is the E2E baseline's R(2+1)D-18, trained on the same "
           "seen source classes (no other data). Frozen: fixed features, as the paper's pre-trained row; "
           "precomputed features on disk (docs/features.md) are the same input for real datasets.",)),
    Table("table7", "Table 7. Training with and without overlap removal", t7, ("table7",)),
    Table("table8", "Table 8. Effect of the constraints in the semantic relatedness transfer", t8,
          ("table8a", "table8b", "table8c"),
          ("Skewness of the k-occurrence distribution psi_1, mean over the splits where it is defined: Eq. 10 "
           "as printed (gamma x the sample skewness) and the usual sample skewness (docs/transfer.md).",)),
    Table("table9", "Table 9. ResNet and object-region features (0/50)", t9, ("table9",),
          ("Object-region features: no `zsarbench` command produces them yet (n/a).",)),
]


# ----------------------------------------------------------------------------- rendering

def decimals(cell: Cell) -> int:
    return 3 if "skew" in cell.metric else 1


def distinct(cell: Cell, hits: list[Result]) -> list[Result]:
    """One result per trained model (checkpoint key), the latest: re-evaluating the same model is not
    another run of the cell."""
    latest = {}
    for r in sorted(hits, key=lambda r: (r.finished, r.path)):
        latest[cell.model(r)] = r
    return sorted(latest.values(), key=lambda r: r.path)


def fill(grid: Grid, R: list[Result]) -> tuple[list[list[str]], set[str], set[str]]:
    """Text of every cell, the commands that would fill missing cells, the results files used."""
    missing, used, rows = set(), set(), []
    for row in grid.rows:
        out = []
        for c in row:
            if not isinstance(c, Cell):
                out.append(str(c))
            elif c.protocol is None:
                out.append("n/a")
            else:
                hits = distinct(c, [r for r in R if c.matches(r)])
                vals = [v for v in (c.value(r) for r in hits) if isinstance(v, dict)]
                used.update(r.path for r in hits)
                if not vals:
                    missing.add(c.command())
                out.append(fmt_cell(vals, decimals(c)))
        rows.append(out)
    return rows, missing, used


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _md_grid(title, header, rows) -> list[str]:
    return [f"#### {title}", "", _md_row(header), "|" + "---|" * len(header), *map(_md_row, rows), ""]


TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "✓": r"\checkmark",
       "×": r"$\times$", "ψ": r"$\psi$"}


def tex_escape(s: str) -> str:
    return "".join(TEX.get(ch, ch) for ch in str(s))


def _tex_grid(caption, header, rows) -> list[str]:
    return [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex_escape(caption)}}}",
            r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule",
            " & ".join(map(tex_escape, header)) + r" \\", r"\midrule",
            *[" & ".join(map(tex_escape, row)) + r" \\" for row in rows],
            r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]


def render(table: Table, R: list[Result]) -> tuple[str, str, int]:
    """(Markdown, LaTeX, number of missing cells) of one table."""
    md = [f"# {table.title}", "", "Generated by `zsarbench tables` from results/**/*.json; do not edit.", ""]
    tex = [f"% {table.title}", "% Generated by `zsarbench tables` from results/**/*.json; do not edit.",
           "% Needs \\usepackage{booktabs,amssymb}.", ""]
    missing_all, used_all, n_missing = set(), set(), 0
    for bench, heading in BENCHMARKS.items():
        filled = [(g, *fill(g, R)) for g in table.build(bench, R)]
        if bench != "synthetic" and not any(used for *_, used in filled):
            protos = sorted({c.protocol for g, *_ in filled for row in g.rows for c in row
                             if isinstance(c, Cell) and c.protocol})
            md += [f"## {heading}", "", f"No results yet (protocols {', '.join(protos)}; real datasets need "
                   "`--data-root`, see README.md).", ""]
            continue
        md += [f"## {heading}", ""]
        for g, rows, missing, used in filled:
            if not any(isinstance(c, Cell) and c.protocol for row in g.rows for c in row):
                md += [f"#### {g.title}", "", "No such protocol on this benchmark.", ""]
                continue
            md += _md_grid(g.title, g.header, rows)
            tex += _tex_grid(f"{table.title}: {g.title} ({bench})", g.header, rows)
            missing_all |= missing
            used_all |= used
            n_missing += sum(x == "-" for row in rows for x in row)
    md += ["## Reported (paper; real datasets, not our runs)", ""]
    for key in table.paper:
        p = PAPER[key]
        md += _md_grid(f"ResT paper, {p['source']}", p["columns"], p["rows"])
        md += [f"Note: {n}" for n in p.get("notes", [])] + ([""] if p.get("notes") else [])
        tex += _tex_grid(f"Reported in the ResT paper, {p['source']} (real datasets)", p["columns"], p["rows"])
    md += ["## Notes", "", CELL_NOTE, "", *[f"{n}" for n in table.notes], *([""] if table.notes else [])]
    if missing_all:
        md += ["Commands that would fill the missing cells:", "", "```", *sorted(missing_all), "```", ""]
        tex += ["% Commands that would fill the missing cells:", *[f"%   {c}" for c in sorted(missing_all)], ""]
    md += ["Results files used:", ""] + ([f"- `{p}`" for p in sorted(used_all)] or ["- none"]) + [""]
    return "\n".join(md), "\n".join(tex), n_missing


def write_tables(R: list[Result], out_dir: Path) -> dict:
    """Render every table into out_dir (tableN.md, tableN.tex, README.md); remove stale .md/.tex there.
    Returns {table key: missing cells}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, summary = set(), {}
    index = ["# Tables", "", "Generated by `zsarbench tables` (or `make tables`) from results/**/*.json; do not edit.",
             f"{len(R)} results files.", "", "| table | missing cells |", "|---|---|"]
    for t in TABLES:
        md, tex, n_missing = render(t, R)
        for ext, text in (("md", md), ("tex", tex)):
            (out_dir / f"{t.key}.{ext}").write_text(text)
            written.add(f"{t.key}.{ext}")
        summary[t.key] = n_missing
        index.append(f"| [{t.title}]({t.key}.md) | {n_missing} |")
    (out_dir / "README.md").write_text("\n".join(index) + "\n")
    written.add("README.md")
    for p in out_dir.iterdir():
        if p.suffix in (".md", ".tex") and p.name not in written:
            p.unlink()
    return summary
