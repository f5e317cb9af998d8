"""A table cell and how it is filled: which results files match it, one value per training seed of
one data format, formatted as mean ± std with the marks the number needs (report/marks.py). Reads
results documents only (report/load.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..coverage import bounds_text
from . import marks
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

    def own_row(self, r: Result) -> dict | None:
        """The ablation row behind this cell's number in r; None for a plain run."""
        return None if self.ablation is None else self.row(r)

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


def seed_of(r: Result, protocol: str) -> int | None:
    """The training seed (recipe.seed) of r's models on `protocol`."""
    protos = r.data.get("protocol")
    protos = protos if isinstance(protos, list) else [protos]
    p = next((p for p in protos if isinstance(p, dict) and p.get("name") == protocol), None)
    seed = ((p or {}).get("recipe") or {}).get("seed")
    return r.data.get("seed") if seed is None else seed


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
    """Several trained models (seeds) of one cell: the mean of their means, the sample std over them
    (ddof 1: the seeds are a sample of the seeds one could train; 0 for one seed), their count."""
    a = np.asarray(means, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0, int(a.size)


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


@dataclass
class Picked:
    """The results a cell pools (one per training seed, of one data format), what it left out and why."""
    results: list[Result]
    fmt: object = None                   # their data format (marks.data_format)
    superseded: list[str] = field(default_factory=list)   # files of an older format: not pooled
    warnings: list[str] = field(default_factory=list)     # one line per seed found twice


def pick(cell: Cell, hits: list[Result]) -> Picked:
    """The results of a cell: those of the newest data format only (a cell never pools formats);
    one per trained model (checkpoint key), the latest, since evaluating a model again is not another
    run; then one per training seed (`recipe.seed`), the latest: the same seed trained twice (e.g. in
    another cache folder) is one seed, counted once, with a warning."""
    if not hits:
        return Picked([])
    fmts = {r.path: marks.data_format(r, cell.protocol, cell.own_row(r)) for r in hits}
    newest = max(fmts.values(), key=marks.format_rank)
    superseded = sorted(r.path for r in hits if fmts[r.path] != newest)
    latest, by_seed, warnings = {}, {}, []
    for r in sorted((r for r in hits if fmts[r.path] == newest), key=lambda r: (r.finished, r.path)):
        latest[cell.model(r)] = r
    for r in sorted(latest.values(), key=lambda r: (r.finished, r.path)):
        seed = seed_of(r, cell.protocol)
        if seed is not None and seed in by_seed:
            warnings.append(f"{cell.protocol}, {cell.method or cell.ablation}{cell.variant and f' ({cell.variant})' or ''}: "
                            f"seed {seed} has two trained models ({by_seed[seed].path}, {r.path}); counted once, "
                            f"the latest ({r.path})")
        by_seed[seed if seed is not None else r.path] = r
    return Picked(sorted(by_seed.values(), key=lambda r: r.path), newest, superseded, warnings)


def cell_marks(cell: Cell, results: list[Result]) -> str:
    """What the number needs said beside it: DIRTY, collapsed splits, stages that did not train, and
    the inputs it accepted that change the protocol."""
    out = marks.DIRTY if any(marks.is_dirty(r) for r in results) else ""
    counts = [marks.collapsed(cell.own_row(r)["splits"] if cell.ablation else r.data.get("splits")) for r in results]
    out += marks.collapse_text(sum(c[0] for c in counts), sum(c[1] for c in counts))
    stages = sorted({s for r in results for s in marks.did_not_train(r, cell.own_row(r))})
    if stages:
        out += f" (did not train: {', '.join(stages)})"
    return out + marks.accepted_text(a for r in results for a in cell.accepted(r))


@dataclass
class Filled:
    """A grid's cell texts, the commands that would fill missing cells, the results files used, the
    data format of each filled cell ((row label, protocol) -> format), files of older formats left
    out, warnings (seeds found twice) and whether a number carries the DIRTY mark."""
    rows: list[list[str]]
    missing: set
    used: set
    formats: dict
    superseded: set
    warnings: list
    dirty: bool
    accepted: bool = False   # a number carries the ACCEPTED mark


def fill(grid: Grid, R: list[Result]) -> Filled:
    missing, used, rows, formats, superseded, warnings, dirty, accepted = set(), set(), [], {}, set(), [], False, False
    for row in grid.rows:
        out = []
        for c in row:
            if not isinstance(c, Cell):
                out.append(str(c))
            elif c.protocol is None:
                out.append("n/a")
            else:
                got = pick(c, [r for r in R if c.matches(r)])
                vals = [v for v in (c.value(r) for r in got.results) if isinstance(v, dict)]
                used.update(r.path for r in got.results)
                superseded.update(got.superseded)
                warnings += got.warnings
                if not vals:
                    missing.add(c.command())
                    out.append(fmt_cell(vals, decimals(c)))
                    continue
                formats[(str(row[0]), c.protocol)] = got.fmt
                tags = cell_marks(c, got.results)
                dirty = dirty or marks.DIRTY in tags
                accepted = accepted or marks.ACCEPTED in tags
                bounds = [b for b in (c.bounds(r) for r in got.results) if b]
                wide = bounds_text(*np.mean(bounds, 0), decimals(c)) if len(bounds) == len(got.results) else ""
                out.append(fmt_cell(vals, decimals(c)) + wide + tags)
        rows.append(out)
    return Filled(rows, missing, used, formats, superseded, warnings, dirty, accepted)


def format_note(formats: dict) -> str:
    """Which data format each filled cell of a table comes from (cells never pool two)."""
    groups = {}
    for (label, protocol), fmt in formats.items():
        groups.setdefault(fmt, {}).setdefault(label, []).append(protocol)
    if not groups:
        return ""
    if len(groups) == 1:
        return f"Data: every cell is {marks.format_label(next(iter(groups)))}."
    parts = []
    for fmt in sorted(groups, key=marks.format_rank, reverse=True):
        rows = "; ".join(f"{label} ({', '.join(ps)})" for label, ps in groups[fmt].items())
        parts.append(f"{marks.format_label(fmt)}: {rows}")
    return "Data of the cells (a cell never pools two formats; numbers of different formats are not comparable): " \
           + ". ".join(parts) + "."
