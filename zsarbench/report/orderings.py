"""The orderings the paper claims (paper_tables.Ordering: each row beats the next), tested over
training seeds on our results: results/tables/orderings.md and orderings.tex, written by
`zsarbench tables` beside the tables. The statistic: zsarbench/stats.py.

A row's data on a protocol: one entry per trained model (a seed), the top-1 of each of its splits,
found by the tables' own matching rules (report/cells.py: `Cell` and `distinct`, one result per
checkpoint key, the latest). Several results files of one row that differ in their seed only are
several seeds. Rows are named by the ordering's ids:
  - run-filled parts (Tables 1, 2: method names; Table 7 below): plain `zsarbench run` results;
  - ablations: the rows of `zsarbench ablate NAME` results by their `id`; a schema-1 row without
    one gets the id of the registry row (paper_tables) with the same key on that protocol; rows
    matching none are listed as not used.
Protocols: the part's columns on the synthetic benchmark, then those of the table's real-dataset
columns on which a row of the ordering has a result. Like the tables, the output depends on the
results files alone (sorted, relative paths, no clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import UserError
from ..paper_tables import EMBEDDINGS, TABLES as PAPER_TABLES, Part
from ..results import row_key
from ..stats import HOLDS, METHOD, NO_RESULTS, ONE_SEED, PAIRED_METHOD, Comparison, compare
from .cells import Cell, distinct, md_grid, run_cell
from .latex import TexFile
from .layouts import LAYOUTS
from .load import Result

# Table 7's rows: ResT_18's plain run, and with --set (overrides of run_cell) on the same protocol
RUN_ROWS = {"table7": {"overlap-removed": {}, "all-classes": {"source__remove_overlap_with": []}}}
METHOD_SHORT = ("Mean (n): the mean over n seeds of each seed's mean top-1 over the splits. Welch's t-test on the "
                "per-seed means (seeds are the replicates, never the splits), two-sided, alpha 0.05; 95% CI of "
                "mean A - mean B from the same test (scipy.stats.ttest_ind, equal_var=False); paired (ttest_rel, "
                "marked \u2020) where both rows are the same trained models.")
TITLE = "Orderings the paper claims, tested over training seeds"
SEEDS_NOTE = ("n = seeds: trained models (distinct checkpoint keys; one file per seed, `recipe.seed` differs) "
              "behind a mean; a model evaluated again counts once, its latest result. A row with fewer than 2 "
              "seeds cannot be tested: its pairs say \"1 seed: not testable\" (or \"no results: not testable\").")
VERDICTS = ("holds: difference > 0 and p < 0.05; holds within noise: difference >= 0, not significant; reversed "
            "within noise: difference < 0, not significant; reversed: difference < 0 and p < 0.05; not testable "
            "(no variance): every seed of both rows has the same mean; equal in every seed: both rows score the same on "
            "every seed (the claim fails).")
HEADER = ["protocol", "pair (A > B)", "mean A (seeds)", "mean B (seeds)", "A - B [95% CI]", "p", "verdict"]
TEX_HEADER = ["pair (A > B)", "A (n)", "B (n)", "A - B [95% CI]", "p", "verdict"]


@dataclass(frozen=True)
class Seed:
    """One trained model of a row on a protocol."""
    values: tuple                   # top-1 of each split (percent)
    seed: int | None                # its recipe.seed, where the file says
    path: str                       # the results file
    model: str = ""                 # the trained model (checkpoint key): rows sharing models are paired


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


def _seed_of(r: Result, protocol: str) -> int | None:
    protos = r.data.get("protocol")
    protos = protos if isinstance(protos, list) else [protos]
    p = next((p for p in protos if isinstance(p, dict) and p.get("name") == protocol), None)
    return ((p or {}).get("recipe") or {}).get("seed")


def _latest(found: list[tuple[Result, str, tuple]], protocol: str) -> list[Seed]:
    """found: (result, model key, values); one Seed per model, its latest result, by path."""
    latest = {}
    for r, model, vals in sorted(found, key=lambda x: (x[0].finished, x[0].path)):
        latest[model] = (r, vals)
    return sorted((Seed(vals, _seed_of(r, protocol), r.path, model) for model, (r, vals) in latest.items() if vals),
                  key=lambda s: s.path)


def run_seeds(R: list[Result], part: Part, row_id: str, protocol: str, tuned: bool = False) -> list[Seed]:
    """A row of a run-filled part: the plain runs its table's cell reads (`tuned`: of tuned overlays)."""
    if part.name in RUN_ROWS:
        cell = run_cell(protocol, part.methods[0], tuned=tuned, **RUN_ROWS[part.name][row_id])
    else:
        cell = run_cell(protocol, row_id, tuned=tuned)
    hits = distinct(cell, [r for r in R if cell.matches(r)])
    return _latest([(r, cell.model(r), _values(r.data.get("splits"), r.data.get("aggregate"))) for r in hits], protocol)


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
    for rid, ks in keys.items():
        found = []
        for key in sorted(ks):
            cell = Cell(protocol, method, ablation=part.name, variant=key, tuned=tuned)
            found += [(r, cell.model(r), _values(cell.row(r)["splits"], cell.row(r)["aggregate"]))
                      for r in distinct(cell, [r for r in R if cell.matches(r)])]
        out[rid] = _latest(found, protocol)
    return out, unmatched


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
                                            *[[s.model for s in found.get(x, [])] for x in (a, b)]))
                      for a, b in zip(o.rows, o.rows[1:])]
        orderings.append((o, pairs))
    order = {p: k for k, p in enumerate(dict.fromkeys(p for p, _ in used))}
    return PartResult(table_key, part, orderings, dict(sorted(used.items(), key=lambda kv: order[kv[0][0]])), unmatched)


def evaluate_all(R: list[Result], tuned: bool = False) -> list[PartResult]:
    out = [evaluate_part(t.key, part, R, tuned) for t in PAPER_TABLES for part in t.parts if part.orderings]
    return [pr for pr in out if pr.orderings] if tuned else out


# ----------------------------------------------------------------------------- rendering

def summary(pairs: list[Pair]) -> str:
    """One line: every pair's verdict, grouped."""
    n, protocols = len(pairs), len({p.protocol for p in pairs})
    where = f"{n} pair{'s' * (n != 1)} on {protocols} protocol{'s' * (protocols != 1)}"
    verdicts = list(dict.fromkeys(p.result.verdict for p in pairs))
    if len(verdicts) == 1:
        which = "the pair" if n == 1 else "both pairs" if n == 2 else f"all {n} pairs"
        return f"{which} on {protocols} protocol{'s' * (protocols != 1)}: {verdicts[0]}"
    holds = sum(p.result.verdict == HOLDS for p in pairs)
    groups = [f"{v}: " + ", ".join(f"{p.a} > {p.b} ({p.protocol})" for p in pairs if p.result.verdict == v)
              for v in verdicts if v != HOLDS]
    return f"{holds} of {where} hold{'s' * (holds == 1)}; " + "; ".join(groups)


def _mean(m: float | None, n: int) -> str:
    return "- (n=0)" if m is None else f"{m:.1f} (n={n})"


def _diff(c: Comparison) -> str:
    if c.diff is None:
        return "-"
    return f"{c.diff:+.1f} [{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]" if c.ci else f"{c.diff:+.1f}"


def _p(c: Comparison) -> str:
    """The p-value; † marks the paired test (both rows are the same trained models)."""
    mark = "\u2020" if c.method == PAIRED_METHOD else ""
    return "-" if c.p is None else ("<0.001" if c.p < 0.001 else f"{c.p:.3f}") + mark


def _cells(pair: Pair) -> dict:
    c = pair.result
    return {"protocol": pair.protocol, "pair": f"{pair.a} > {pair.b}", "a": _mean(c.mean_a, c.n_a),
            "b": _mean(c.mean_b, c.n_b), "diff": _diff(c), "p": _p(c), "verdict": c.verdict}


def _n_seeds(seeds: list[Seed]) -> str:
    n = len(seeds)
    return f"{n}" if n >= 2 else f"{n} (fewer than 2: not testable)"


def _source(part: Part) -> str:
    if part.ablation:
        return (f"rows of `zsarbench ablate {part.name}` results, by row id"
                + (" (ResT_18's model, as Table 8)" if part.name == "constraints" else ""))
    if part.name in RUN_ROWS:
        return "plain `zsarbench run` results of ResT_18: overlap-removed = the protocol as it is, all-classes = " \
               "`--set source.remove_overlap_with=[]`"
    return "plain `zsarbench run` results, by method name (no `--set` overrides but the seed)"


def _parts_md(results: list[PartResult]) -> tuple[list[str], set, set]:
    """Each part's ordering blocks and seeds per row; the results files and unmatched rows."""
    md, files, unmatched = [], set(), set()
    for pr in results:
        md += [f"## Table {pr.part.label}: {pr.part.title}", "", f"Rows: {_source(pr.part)}.", ""]
        for o, pairs in pr.orderings:
            md += [f"### {' > '.join(o.rows)}", "", f"Claim: {o.claim}.", "", f"Summary: {summary(pairs)}.", ""]
            md += md_grid(None, HEADER, [list(_cells(p).values()) for p in pairs])
        rows = []
        for (protocol, rid), seeds in pr.seeds.items():
            values = ", ".join("?" if s.seed is None else str(s.seed) for s in seeds) or "-"
            rows.append([protocol, rid, _n_seeds(seeds), values, ", ".join(f"`{s.path}`" for s in seeds) or "-"])
            files |= {s.path for s in seeds}
        md += md_grid("Seeds per row", ["protocol", "row", "seeds", "recipe.seed", "results files"], rows)
        unmatched |= pr.unmatched
    return md, files, unmatched


TUNED_TITLE = "Equal-budget tuned"
TUNED_NOTE = ("The same orderings on the results of tuned overlays only (`zsarbench tune METHOD -p PROTOCOL` on the "
              "seen classes, then `zsarbench run|ablate -p protocols/tuned/<method>--<protocol>.toml`; "
              "`make tune-reference` gives every method the same --trials and --timeout, `make reference "
              "REF_TUNED=1` runs them), tested the same way, on each protocol where every row of the ordering has "
              "tuned results; each study's budget is in the notes of the table its rows come from.")


def _summary_grid(results: list[PartResult]) -> list[str]:
    return md_grid(None, ["table", "ordering", "claim", "summary"],
                   [[pr.part.label, " > ".join(o.rows), o.claim, summary(pairs)] for pr in results
                    for o, pairs in pr.orderings])


def tuned_md(tuned: list[PartResult]) -> tuple[list[str], set]:
    """The equal-budget tuned block of orderings.md (one line when no ordering has tuned rows)."""
    md = [f"## {TUNED_TITLE}", "", TUNED_NOTE, ""]
    if not tuned:
        return md + ["No ordering has tuned results for every one of its rows on any protocol yet.", ""], set()
    body, files, _ = _parts_md(tuned)
    body = [line.replace("## Table ", "### Tuned: Table ", 1) if line.startswith("## Table ") else
            line.replace("### ", "#### ", 1) if line.startswith("### ") else line for line in body]
    return md + ["### Summary (tuned)", "", *_summary_grid(tuned), *body], files


def render_md(results: list[PartResult], tuned: list[PartResult] | None = None) -> str:
    md = [f"# {TITLE}", "", "Generated by `zsarbench tables` from results/**/*.json; do not edit.", "",
          f"How: for each adjacent pair A > B of an ordering, on each protocol: {METHOD}. Where both rows are "
          f"the same trained models (inference variants of one model), the test is paired instead (p marked †): "
          f"{PAIRED_METHOD}. "
          "The mean of a row is the mean over its seeds of each seed's mean over the splits.", "",
          f"Verdicts: {VERDICTS}", "", SEEDS_NOTE, "", "## Summary", ""]
    md += _summary_grid(results)
    body, files, unmatched = _parts_md(results)
    md += body
    if tuned is not None:
        block, tuned_files = tuned_md(tuned)
        md += block
        files |= tuned_files
    if unmatched:
        md += ["## Rows not used", "", "Ablation rows with no id that match no row of the part (paper_tables.py):", "",
               *[f"- `{path}`: {label}" for path, label in sorted(unmatched)], ""]
    md += ["## Results files used", "", *([f"- `{p}`" for p in sorted(files)] or ["- none"]), ""]
    return "\n".join(md)


def render_tex(results: list[PartResult]) -> str:
    """One float per part: a group of rows per protocol, a row per pair of its orderings."""
    tex = TexFile("orderings", TITLE)
    for pr in results:
        pairs = list({(p.protocol, p.a, p.b): p for _, ps in pr.orderings for p in ps}.values())
        order = list(dict.fromkeys(p.protocol for p in pairs))
        pairs.sort(key=lambda p: order.index(p.protocol))         # stable: the orderings' order within
        rows, groups = [], {}
        for p in pairs:
            c = p.result
            groups.setdefault(p.protocol, len(rows))
            rows.append([f"{p.a} > {p.b}", "-" if c.mean_a is None else f"{c.mean_a:.1f} ({c.n_a})",
                         "-" if c.mean_b is None else f"{c.mean_b:.1f} ({c.n_b})", _diff(c), _p(c), c.verdict])
        notes = [f"{' > '.join(o.rows)}: {o.claim}; {summary(ps)}." for o, ps in pr.orderings]
        untestable = any(p.result.verdict in (ONE_SEED, NO_RESULTS) for p in pairs)
        tex.plain(f"Orderings claimed in the paper's Table {pr.part.label} ({pr.part.title}), tested over "
                  "training seeds; ours", f"tab:orderings-{pr.part.name}", TEX_HEADER, rows,
                  [*notes, f"Rows: {_source(pr.part)}. {METHOD_SHORT}",
                   SEEDS_NOTE if untestable else SEEDS_NOTE.split(" A row with")[0]],
                  {k: protocol for protocol, k in groups.items()})
    return tex.text()


def write_orderings(R: list[Result], out_dir: Path) -> list[str]:
    """orderings.md and orderings.tex in out_dir; the names written."""
    results = evaluate_all(R)
    (Path(out_dir) / "orderings.md").write_text(render_md(results, evaluate_all(R, tuned=True)))
    (Path(out_dir) / "orderings.tex").write_text(render_tex(results))
    return ["orderings.md", "orderings.tex"]
