"""A table cell and how it is filled: which results files match it, one value per trained model,
formatted as mean ± std. Reads results documents only (report/load.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..coverage import bounds_text
from .load import Result

NAMES = {"rest18": "ResT_18", "rest34": "ResT_34", "rest101": "ResT_101", "e2e_r2plus1d": "E2E_R(2+1)D"}


def display(method: str) -> str:
    return NAMES.get(method, method)


@dataclass(frozen=True)
class Cell:
    """Which results fill one cell: a plain `run` (ablation None) or one row of an ablation."""
    protocol: str | None            # None: no such protocol on this benchmark
    method: str | None = "rest18"   # None: any method (ablations that compare methods)
    metric: str = "top1"            # dotted path into an `aggregate`
    ablation: str | None = None
    variant: str | None = None      # the ablation's row (`key` of Result.rows)
    overrides: tuple = ()           # (("section.key", JSON text), ...): must equal the run's, seed aside
    embedding: str | None = None    # a run's --embedding (None: the protocol's own)
    tuned: bool = False             # results of a tuned overlay (`zsarbench tune`) only, or untuned only
    names: str | None = None        # a run's class-name file (Result.names; None: the dataset rules)
    accept: tuple = ()              # what the cell's command must accept (--accept NAME: deviations.py)

    def matches(self, r: Result) -> bool:
        if self.protocol not in r.protocols or bool(r.tuned(self.protocol)) != self.tuned:
            return False
        if {k: json.dumps(v) for k, v in r.overrides().items()} != dict(self.overrides) or r.embedding != self.embedding:
            return False
        if self.ablation is None:
            return r.kind == "zsar-run" and r.names == self.names and (self.method is None or r.method == self.method)
        return r.kind == "zsar-ablation" and r.ablation == self.ablation and self.row(r) is not None

    def row(self, r: Result) -> dict | None:
        return next((v for v in r.rows(self.protocol)
                     if v["key"] == self.variant and (self.method is None or v["method"] == self.method)), None)

    def model(self, r: Result) -> str:
        """The trained model behind this cell's number in r (its checkpoint key)."""
        key = (r.data.get("checkpoint") or {}).get("key") if self.ablation is None else self.row(r)["checkpoint"]
        return key or r.path

    def value(self, r: Result) -> dict | None:
        agg = r.data["aggregate"] if self.ablation is None else self.row(r)["aggregate"]
        for part in self.metric.split("."):
            agg = agg.get(part) if isinstance(agg, dict) else None
        return agg

    def bounds(self, r: Result) -> list | None:
        """The top-k bounds of a run or row (coverage.py) if the videos not evaluated were all wrong or all right."""
        agg = r.data["aggregate"] if self.ablation is None else self.row(r)["aggregate"]
        return (agg.get("coverage") or {}).get(f"{self.metric}_bounds") if self.metric in ("top1", "top5") else None

    def accepted(self, r: Result) -> list[str]:
        """What the result behind this cell accepted that changes the protocol (marked in the cell)."""
        return r.accepted() if self.ablation is None else self.row(r).get("accepted", [])

    def command(self) -> str:
        fixed = "".join(f" --set {k}={v}" for k, v in self.overrides)
        sets = fixed + (f" --embedding {self.embedding}" if self.embedding else "") + \
            "".join(f" --accept {a}" for a in self.accept)
        sets += f" --set embedding.class_names=<the class-name file of sha256 {self.names}...>" if self.names else ""
        if self.ablation is None and self.tuned:   # the overlay comes from a study (8 trials: make tune-reference), kept in the repository
            p = f"protocols/tuned/{self.method}--{self.protocol}.toml"
            return (f"test -f {p} || zsarbench tune {self.method} -p {self.protocol}{fixed} --trials 8 --out {p}; "
                    f"zsarbench run {self.method} -p {p}{sets}")
        if self.ablation is None:
            return f"zsarbench run {self.method} -p {self.protocol}{sets}"
        m = f" -m {self.method}" if self.method not in (None, "rest18") else ""
        p = f"protocols/tuned/<method>--{self.protocol}.toml" if self.tuned else self.protocol
        return f"zsarbench ablate {self.ablation} -p {p}{m}{sets}"


def run_cell(protocol, method="rest18", metric="top1", embedding=None, tuned=False, names=None, accept=(),
             **overrides) -> Cell:
    return Cell(protocol, method, metric,
                overrides=tuple(sorted((k.replace("__", "."), json.dumps(v)) for k, v in overrides.items())),
                embedding=embedding, tuned=tuned, names=names, accept=tuple(accept))


MARK = "†"
MARK_NOTE = (f"{MARK} name: the result accepted an input that changes the protocol, recorded in its file "
             "(data.accepted; docs/errors.md): class-overlap, training classes that are target classes (not "
             "zero-shot); empty-classes, classes without videos dropped; bad-segments, malformed annotated "
             "segments left out; duplicate-videos, videos annotated twice kept once; nonstandard, a dataset tree that is not the official one (--allow-nonstandard).")


def marks(cell: Cell, hits: list[Result]) -> str:
    """' † class-overlap' for a cell whose results accepted inputs that change the protocol, else ''."""
    found = sorted({a for r in hits for a in cell.accepted(r)})
    return f" {MARK} {', '.join(found)}" if found else ""


def fmt_cell(values: list[dict], decimals: int) -> str:
    """values: the cell's aggregate of each matching run, one per trained model ({mean, std, n}).
    One run: mean ± std over its splits. Several (seeds): mean ± std over the runs' means with their
    count, and beside it the mean over the runs of their std over splits."""
    if not values:
        return "-"
    means = [v.get("mean") for v in values]
    if any(m is None for m in means):
        return "undefined"
    if len(values) == 1:
        v = values[0]
        spread = f" ± {v['std']:.{decimals}f}" if v.get("n", 1) > 1 and v.get("std") is not None else ""
        return f"{means[0]:.{decimals}f}{spread}"
    mean, std, n = pool(means)
    splits = [v["std"] for v in values if v.get("n", 1) > 1 and v.get("std") is not None]
    beside = f"; splits ± {np.mean(splits):.{decimals}f}" if len(splits) == len(values) else ""
    return f"{mean:.{decimals}f} ± {std:.{decimals}f} (n={n}{beside})"


def pool(means) -> tuple[float, float, int]:
    """Several trained models (seeds) of one cell: the mean of their means, the population std
    over them, their count."""
    a = np.asarray(means, dtype=np.float64)
    return float(a.mean()), float(a.std()), int(a.size)


@dataclass
class Grid:
    title: str
    header: list[str]
    rows: list[list]                # each cell: text, or a Cell


def md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def md_grid(title: str | None, header, rows) -> list[str]:
    """A Markdown table under a '#### title' (none: no heading)."""
    head = [f"#### {title}", ""] if title is not None else []
    return [*head, md_row(header), "|" + "---|" * len(header), *map(md_row, rows), ""]


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
                bounds = [b for b in (c.bounds(r) for r in hits) if b]
                wide = bounds_text(*np.mean(bounds, 0), decimals(c)) if vals and len(bounds) == len(hits) else ""
                out.append(fmt_cell(vals, decimals(c)) + wide + (marks(c, hits) if vals else ""))
        rows.append(out)
    return rows, missing, used
