"""The orderings the paper claims (paper_tables.Ordering: each row beats the next), tested over
training seeds on our results: results/tables/orderings.md and orderings.tex, written by
`zsarbench tables` beside the tables. The statistic: zsarbench/stats.py.

A row's data on a protocol: one entry per training seed, the top-1 of each of its splits, found by
the tables' own matching rules (report/cells.py: `Cell` and `pick`: the newest data format, one
result per checkpoint key and per `recipe.seed`, the latest). Several results files of one row that
differ in their seed only are several seeds. A collapsed row (at least half its splits), a row whose
model did not train and two rows of different data formats are not tested (report/marks.py). The tested pairs of one paper table are one family: their
p-values are Holm-adjusted together (stats.adjust) and the verdicts use the adjusted p.
Rows are named by the ordering's ids:
  - run-filled parts (Tables 1, 2: method names; Table 7 below): plain `zsarbench run` results;
  - ablations: the rows of `zsarbench ablate NAME` results by their `id`; a schema-1 row without
    one gets the id of the registry row (paper_tables) with the same key on that protocol; rows
    matching none are listed as not used.
Protocols: the part's columns on the synthetic benchmark, then those of the table's real-dataset
columns on which a row of the ordering has a result. Like the tables, the output depends on the
results files alone (sorted, relative paths, no clock). Rendered by report/orderings_render.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..errors import UserError
from ..paper_tables import EMBEDDINGS, Part
from ..paper_tables import TABLES as PAPER_TABLES
from ..results import row_key
from ..stats import COLLAPSED, FORMATS_DIFFER, NOT_TRAINED, Comparison, adjust, compare
from . import marks
from .cells import Cell, pick, run_cell, seed_of
from .layouts import LAYOUTS
from .load import Result

# Table 7's rows: ResT_18's plain run, and with --set (overrides of run_cell) on the same protocol
RUN_ROWS = {"table7": {"overlap-removed": {}, "all-classes": {"source__remove_overlap_with": []}}}


@dataclass(frozen=True)
class Seed:
    """One trained model of a row on a protocol."""
    values: tuple                   # top-1 of each split (percent)
    seed: int | None                # its recipe.seed, where the file says
    path: str                       # the results file
    model: str = ""                 # the trained model (checkpoint key): rows sharing models are paired
    fmt: object = None              # its data format (marks.data_format)
    dirty: bool = False             # its code was not a commit (marks.is_dirty)
    collapsed: int = 0              # its collapsed splits (marks.collapsed)
    not_trained: tuple = ()         # its training stages that did not train (marks.did_not_train)

    def marks(self) -> str:
        out = [marks.DIRTY] if self.dirty else []
        out += [f"{self.collapsed} of {len(self.values)} splits collapsed"] if self.collapsed else []
        out += [f"did not train: {', '.join(self.not_trained)}"] if self.not_trained else []
        return "; ".join(out)


@dataclass(frozen=True)
class Pair:
    protocol: str
    a: str
    b: str
    result: Comparison


def _values(splits: list, aggregate: dict) -> tuple:
    """Top-1 of each split; a file without per-split values: its mean over the splits."""
    vals = tuple(float(s["top1"]) for s in splits or [] if isinstance(s, dict) and s.get("top1") is not None)
    mean = ((aggregate or {}).get("top1") or {}).get("mean")
    return vals or ((float(mean),) if mean is not None else ())


def _seeds(cell: Cell, hits: list[Result]) -> list[Seed]:
    """The seeds of a row on the cell's protocol: the results the tables pool (cells.pick), with their marks."""
    out = []
    for r in pick(cell, hits).results:
        row = cell.own_row(r)
        splits, agg = (row["splits"], row["aggregate"]) if row else (r.data.get("splits"), r.data.get("aggregate"))
        vals = _values(splits, agg)
        if vals:
            out.append(Seed(vals, seed_of(r, cell.protocol), r.path, cell.model(r),
                            marks.data_format(r, cell.protocol, row), marks.is_dirty(r), marks.collapsed(splits)[0],
                            tuple(marks.did_not_train(r, row))))
    return out


def run_seeds(R: list[Result], part: Part, row_id: str, protocol: str, tuned: bool = False) -> list[Seed]:
    """A row of a run-filled part: the plain runs its table's cell reads (`tuned`: of tuned overlays)."""
    if part.name in RUN_ROWS:
        cell = run_cell(protocol, part.methods[0], tuned=tuned, **RUN_ROWS[part.name][row_id])
    else:
        cell = run_cell(protocol, row_id, tuned=tuned)
    return _seeds(cell, [r for r in R if cell.matches(r)])


@lru_cache(maxsize=None)
def registry_ids(part_name: str, protocol: str) -> dict:
    """key -> id of the part's registry rows on the protocol (keys as the ablation computes them)."""
    from ..paper_tables import PARTS
    from ..protocol import load_protocol

    part = PARTS[part_name]
    try:
        P = load_protocol(protocol)
    except UserError:
        return {}
    return {row_key(row.cells, row.method, row.variant, row.embedding or P.embedding.name, row.recipe): row.id
            for row in part.rows(P, EMBEDDINGS, "rest18")}


def ablation_seeds(R: list[Result], part: Part, protocol: str, tuned: bool = False) -> tuple[dict[str, list[Seed]], set]:
    """id -> seeds of every row of the part's ablation results on the protocol (`tuned`: of ablations
    run on tuned overlays), and the (file, row label) of rows with no id."""
    method = "rest18" if part.name == "constraints" else None     # Table 8 reads ResT_18's constraint rows
    keys, unmatched = {}, set()
    for r in R:
        if r.kind != "zsar-ablation" or r.ablation != part.name or bool(r.tuned(protocol)) != tuned:
            continue
        for row in r.rows(protocol):
            rid = row["id"] or registry_ids(part.name, protocol).get(row["key"])
            if rid is None:
                unmatched.add((r.path, row["label"]))
            else:
                keys.setdefault(rid, set()).add(row["key"])
    out = {}
    for rid, ks in keys.items():   # one cell over the row's keys: the seeds of one format, once each
        cells = [Cell(protocol, method, ablation=part.name, variant=key, tuned=tuned) for key in sorted(ks)]
        hits = [r for r in R if any(c.matches(r) for c in cells)]
        out[rid] = _seeds(_AnyKey(cells), hits)
    return out, unmatched


@dataclass(frozen=True)
class _AnyKey:
    """An ablation row id whose rows carry several keys across files: a Cell over all of them."""
    cells: list

    def __getattr__(self, name):
        return getattr(self.cells[0], name)

    def _cell(self, r: Result) -> Cell:
        return next(c for c in self.cells if c.matches(r))

    def own_row(self, r: Result) -> dict | None:
        return self._cell(r).own_row(r)

    def model(self, r: Result) -> str:
        return self._cell(r).model(r)


def _real_protocols(table_key: str, R: list[Result]) -> list[str]:
    out = []
    for grid in LAYOUTS[table_key]("real", R):
        for row in grid.rows:
            out += [c.protocol for c in row if isinstance(c, Cell) and c.protocol and c.protocol not in out]
    return out


@dataclass
class PartResult:
    table: str
    part: Part
    orderings: list                 # (Ordering, [Pair])
    seeds: dict                     # (protocol, row id) -> [Seed], in order of appearance
    unmatched: set


def evaluate_part(table_key: str, part: Part, R: list[Result], tuned: bool = False) -> PartResult:
    """The part's orderings on its protocols. `tuned`: on results of tuned overlays only, and only on
    the protocols where every row of an ordering has one (an ordering with none is left out)."""
    cache, unmatched = {}, set()

    def seeds(protocol: str) -> dict:
        nonlocal unmatched
        if protocol not in cache:
            if part.ablation:
                cache[protocol], bad = ablation_seeds(R, part, protocol, tuned)
                unmatched |= bad
            else:
                ids = {i for o in part.orderings for i in o.rows}
                cache[protocol] = {i: run_seeds(R, part, i, protocol, tuned) for i in sorted(ids)}
        return cache[protocol]

    real = [p for p in _real_protocols(table_key, R) if p not in part.protocols]
    orderings, used = [], {}
    for o in part.orderings:
        protocols = [*part.protocols, *[p for p in real if any(seeds(p).get(i) for i in o.rows)]]
        if tuned:
            protocols = [p for p in protocols if all(seeds(p).get(i) for i in o.rows)]
            if not protocols:
                continue
        pairs = []
        for p in protocols:
            found = seeds(p)
            for i in o.rows:
                used.setdefault((p, i), found.get(i, []))
            pairs += [Pair(p, a, b, compare(*[[s.values for s in found.get(x, [])] for x in (a, b)],
                                            *[[s.model for s in found.get(x, [])] for x in (a, b)],
                                            blocked=_blocked(found.get(a, []), found.get(b, []))))
                      for a, b in zip(o.rows, o.rows[1:])]
        orderings.append((o, pairs))
    order = {p: k for k, p in enumerate(dict.fromkeys(p for p, _ in used))}
    return PartResult(table_key, part, orderings, dict(sorted(used.items(), key=lambda kv: order[kv[0][0]])), unmatched)


def _blocked(*rows: list[Seed]) -> str | None:
    """Why two rows' numbers cannot be tested: a model of either did not train, they were measured on
    different data formats, or either row is collapsed (at least half of its splits over its seeds:
    marks.is_collapsed)."""
    if any(s.not_trained for seeds in rows for s in seeds):
        return NOT_TRAINED
    if len({s.fmt for seeds in rows for s in seeds}) > 1:
        return FORMATS_DIFFER
    if any(marks.is_collapsed(sum(s.collapsed for s in seeds), sum(len(s.values) for s in seeds)) for seeds in rows):
        return COLLAPSED
    return None


def evaluate_all(R: list[Result], tuned: bool = False) -> list[PartResult]:
    """Every part's orderings; then the tested pairs of each paper table, one family, Holm-adjusted
    together (a pair tested by two orderings of a table counts once)."""
    out = [evaluate_part(t.key, part, R, tuned) for t in PAPER_TABLES for part in t.parts if part.orderings]
    out = [pr for pr in out if pr.orderings] if tuned else out
    for table in dict.fromkeys(pr.table for pr in out):
        family = {}
        for pr in out:
            if pr.table == table:
                for _, pairs in pr.orderings:
                    family.update({(p.protocol, p.a, p.b): p.result for p in pairs})
        adjusted = dict(zip(family, adjust(list(family.values()))))
        for pr in out:
            if pr.table == table:
                pr.orderings = [(o, [Pair(p.protocol, p.a, p.b, adjusted[(p.protocol, p.a, p.b)]) for p in pairs])
                                for o, pairs in pr.orderings]
    return out
