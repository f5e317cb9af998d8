"""orderings.md and orderings.tex: the orderings of report/orderings.py rendered (`zsarbench tables`).
Like the tables, the files depend on the results alone (sorted, relative paths, no clock)."""

from __future__ import annotations

from pathlib import Path

from ..paper_tables import Part
from ..stats import HOLDS, HOLM, MDD, METHOD, NO_RESULTS, ONE_SEED, PAIRED_METHOD, Comparison
from . import marks
from .cells import md_grid
from .latex import TexFile
from .load import Result
from .orderings import RUN_ROWS, Pair, PartResult, Seed, evaluate_all

METHOD_SHORT = ("Mean (n): the mean over n seeds of each seed's mean top-1 over the splits. Welch's t-test on the "
                "per-seed means (seeds are the replicates, never the splits), two-sided; 95% CI of "
                "mean A - mean B from the same test (scipy.stats.ttest_ind, equal_var=False); paired (ttest_rel, "
                "marked \u2020) where both rows are the same trained models. p: raw; Holm: adjusted over the "
                "table's tested pairs, alpha 0.05 on it. Detectable: the difference these seeds find with 80% power.")
TITLE = "Orderings the paper claims, tested over training seeds"
SEEDS_NOTE = ("n = seeds: distinct training seeds (`recipe.seed`; one file per seed) of one data format behind a "
              "mean; a model evaluated again counts once, its latest result, and so does a seed trained twice. A row "
              "with fewer than 2 seeds cannot be tested: its pairs say \"1 seed: not testable\" (or \"no results: "
              "not testable\").")
VERDICTS = ("holds: difference > 0 and Holm-adjusted p < 0.05; holds within noise: difference > 0, not significant; "
            "no difference: the means are equal; reversed within noise: difference < 0, not significant; reversed: "
            "difference < 0 and adjusted p < 0.05; not testable (no variance): every seed of both rows has the same "
            "mean; equal in every seed: both rows score the same on every seed (the claim fails); collapsed: not "
            "testable: at least half of a row's splits sent more than half their predictions to one class; did not "
            "train: not "
            "testable: a training stage of a row's model ended at the loss of a uniform guess (its number measures no "
            "method); different data formats: not testable: the rows were measured on different generations of "
            "the synthetic data. Within noise: compare the difference with the detectable one: a small difference under a large "
            "detectable one says too few seeds, not no effect.")
HEADER = ["protocol", "pair (A > B)", "mean A (seeds)", "mean B (seeds)", "A - B [95% CI]", "p", "p (Holm)",
          "detectable", "verdict"]
TEX_HEADER = ["pair (A > B)", "A (n)", "B (n)", "A - B [95% CI]", "p", "Holm", "detect.", "verdict"]



def _pair_text(p: Pair, name: bool = True) -> str:
    """'a > b (protocol)', and for a tested pair its difference, Holm-adjusted p and the difference
    the seeds could detect: what a reader needs to tell 'no effect' from 'too few seeds'."""
    c = p.result
    facts = p.protocol
    if c.p_adjusted is not None and c.diff is not None:
        facts += f": {c.diff:+.1f}, Holm p {_pval(c.p_adjusted)}"
        facts += f", detectable {c.mdd:.1f}" if c.mdd is not None else ""
    return f"{p.a} > {p.b} ({facts})" if name else facts


def summary(pairs: list[Pair]) -> str:
    """One line: every pair's verdict, grouped, each tested pair with its Holm-adjusted p."""
    n, protocols = len(pairs), len({p.protocol for p in pairs})
    where = f"{n} pair{'s' * (n != 1)} on {protocols} protocol{'s' * (protocols != 1)}"
    verdicts = list(dict.fromkeys(p.result.verdict for p in pairs))
    if len(verdicts) == 1:
        which = "the pair" if n == 1 else "both pairs" if n == 2 else f"all {n} pairs"
        tested = [p for p in pairs if p.result.p_adjusted is not None]
        return f"{which} on {protocols} protocol{'s' * (protocols != 1)}: {verdicts[0]}" + \
            (" (" + "; ".join(_pair_text(p, name=len(pairs) > protocols) for p in tested) + ")" if tested else "")
    holds = sum(p.result.verdict == HOLDS for p in pairs)
    groups = [f"{v}: " + ", ".join(_pair_text(p) for p in pairs if p.result.verdict == v)
              for v in [*(v for v in verdicts if v != HOLDS), *([HOLDS] if holds else [])]]
    return f"{holds} of {where} hold{'s' * (holds == 1)}; " + "; ".join(groups)


def _mean(m: float | None, n: int) -> str:
    return "- (n=0)" if m is None else f"{m:.1f} (n={n})"


def _diff(c: Comparison) -> str:
    if c.diff is None:
        return "-"
    return f"{c.diff:+.1f} [{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]" if c.ci else f"{c.diff:+.1f}"


def _pval(p: float | None) -> str:
    return "-" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"


def _p(c: Comparison) -> str:
    """The raw p-value; † marks the paired test (both rows are the same trained models)."""
    mark = "\u2020" if c.method == PAIRED_METHOD else ""
    return "-" if c.p is None else _pval(c.p) + mark


def _mdd(c: Comparison) -> str:
    return "-" if c.mdd is None else f"{c.mdd:.1f}"


def _cells(pair: Pair) -> dict:
    c = pair.result
    return {"protocol": pair.protocol, "pair": f"{pair.a} > {pair.b}", "a": _mean(c.mean_a, c.n_a),
            "b": _mean(c.mean_b, c.n_b), "diff": _diff(c), "p": _p(c), "p_holm": _pval(c.p_adjusted),
            "mdd": _mdd(c), "verdict": c.verdict}


def _n_seeds(seeds: list[Seed]) -> str:
    n = len(seeds)
    return f"{n}" if n >= 2 else f"{n} (fewer than 2: not testable)"


def _seed_marks(seeds: list[Seed]) -> str:
    out = [f"{'?' if s.seed is None else s.seed}: {s.marks()}" for s in seeds if s.marks()]
    return "; ".join(out) or "-"


def _formats(seeds: list[Seed]) -> str:
    return ", ".join(marks.format_label(f) for f in dict.fromkeys(s.fmt for s in seeds)) or "-"


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
            rows.append([protocol, rid, _n_seeds(seeds), values, _formats(seeds), _seed_marks(seeds),
                         ", ".join(f"`{s.path}`" for s in seeds) or "-"])
            files |= {s.path for s in seeds}
        md += md_grid("Seeds per row", ["protocol", "row", "seeds", "recipe.seed", "data", "marks", "results files"],
                      rows)
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
          "The mean of a row is the mean over its seeds of each seed's mean over the splits. "
          f"Multiple testing: {HOLM}; the p column is the raw p-value, p (Holm) the adjusted one. "
          f"Power: {MDD}.", "",
          f"Verdicts: {VERDICTS}", "", SEEDS_NOTE, "", marks.DIRTY_NOTE + " (column marks of Seeds per row)", "",
          "## Summary", ""]
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
                         "-" if c.mean_b is None else f"{c.mean_b:.1f} ({c.n_b})", _diff(c), _p(c),
                         _pval(c.p_adjusted), _mdd(c), c.verdict])
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
