"""The terminal view of a results document (results.py builds it; this only prints it)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from .common import out


def _pm(a: dict) -> str:
    return f"{a['mean']:.1f} +- {a['std']:.1f}"


def print_result(result: dict, path: Path) -> None:
    """A `zsar-run` document: per split top-1/top-5, the transfer's parameters, the time."""
    agg, tr = result["aggregate"], result["transfer"]
    n = len(result["splits"])
    table = Table(title=f"{result['method']['name']} on {result['protocol']['name']} "
                        f"({n} split{'s' if n > 1 else ''}, percent)")
    for col in ("split", "unseen", "videos", "top-1", "top-5"):
        table.add_column(col, justify="right")
    for sp in result["splits"]:
        table.add_row(str(sp["index"]), str(len(sp["unseen_classes"])), str(sp["n_videos"]),
                      f"{sp['top1']:.1f}", f"{sp['top5']:.1f}")
    table.add_section()
    table.add_row("mean +- std", "", "", _pm(agg["top1"]), _pm(agg["top5"]), style="bold")
    out.print(table)
    inference = (f"transfer {tr['solver']}: theta={tr['theta']} K={tr['K']} rho={tr['rho']}" if tr["variant"] == "all"
                 else f"inference {tr['variant']} ({result['method']['space']} space, no transfer)")
    cost = result.get("cost", {})
    out.print(f"chance top-1 {agg['chance_top1']:.1f}%  |  {inference} (CV top-1 on seen classes "
              f"{tr['cv']['cv_top1']:.1f}%)  |  {result['timings']['total_s']:.0f} s"
              + (f"  |  {cost['gmac_per_clip']:.3g} GMAC x {cost['test_clips']} clips" if cost.get("measured") else ""))
    T = result.get("protocol", {}).get("target", {})
    if T.get("candidates") == "all" and "n_candidates" in result["splits"][0]:
        out.print(f"candidates: all {result['splits'][0]['n_candidates']} target classes (target.candidates = all), "
                  "not only each split's unseen ones")
    missing = result.get("data", {}).get("target", {}).get("pinned_classes_missing")
    if missing:
        out.print(f"note: {len(missing)} pinned classes are not in the target's annotations "
                  "(--allow-nonstandard): not the protocol's full class list", style="yellow")
    if "gzsl" in agg:
        g = {k: _pm(v) for k, v in agg["gzsl"].items()}
        out.print(f"generalized ZSL (seen + unseen candidates): seen top-1 {g['seen_top1']}, "
                  f"unseen top-1 {g['unseen_top1']}, harmonic mean {g['harmonic_mean']}")
    cov = agg.get("coverage")
    if cov and cov["n_not_evaluated"]:   # evaluated vs listed (coverage.py), the videos named in the file
        lo, hi = cov["top1_bounds"]
        out.print(f"[yellow]{cov['n_evaluated']} of {cov['n_listed']} listed test videos evaluated over the splits "
                  f"(not evaluated: named in splits[].not_evaluated); top-1 between {lo:.1f} and {hi:.1f} had "
                  "they been all wrong or all right[/yellow]")
    skipped, small = result["data"]["skipped_videos"], result["data"].get("too_small_videos", [])
    if skipped:
        out.print(f"{len(skipped)} videos skipped (listed in the results file): "
                  f"{len(skipped) - len(small)} unreadable, {len(small)} smaller than the "
                  f"{result['protocol']['recipe']['crop']}-pixel crop", style="yellow")
    accepted = result["data"].get("accepted")
    if accepted:
        out.print(f"accepted inputs that change the protocol (recorded; marked in the tables): {', '.join(accepted)}",
                  style="yellow")
    out.print(f"results: {path}")


def print_ablation(result: dict, path: Path) -> None:
    """A `zsar-ablation` document: the constraint ablation as one table per protocol (with hubness
    and the chosen parameters), every other as one table with a column per protocol."""
    rows = result["rows"]
    if result["ablation"] == "constraints":
        for name in result["protocols"]:
            _constraints_table(result, name)
    else:
        _rows_table(result)
    cached = all(row["results"][p]["features_cached"] for row in rows for p in result["protocols"])
    loaded = any(row["checkpoint"]["network_loaded"] for row in rows)
    prof = result["profile"]
    profile = (("cheap (" + ", ".join(f"{s}.{k}={v}" for s, kv in prof["protocol"].items() for k, v in kv.items())
                + ", method " + ", ".join(f"{k}={v}" for k, v in prof["method"].items()) + " where the method has it)")
               if isinstance(prof, dict) else prof)
    out.print(f"profile: {profile}  |  features {'from cache' if cached else 'extracted'}, network "
              f"{'loaded' if loaded else 'not loaded'}  |  results: {path}")


def _constraints_table(result: dict, protocol: str) -> None:
    first = result["rows"][0]
    table = Table(title=f"{first['method']['name']} on {protocol}: effect of the transfer constraints "
                        f"({first['results'][protocol]['n_splits']} splits, percent, mean +- std)")
    for col in ("variant", "space", "skew psi_1 (sample)", "skew psi_1 (Eq. 10)", "top-1", "top-5",
                "CV top-1 (seen)", "theta, K, rho"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for row in result["rows"]:
        cell = row["results"][protocol]
        agg, hub = cell["aggregate"], cell["aggregate"]["hubness"]["k1"]
        skew = [("-" if hub[n]["mean"] is None else f"{hub[n]['mean']:.3f}") for n in ("skew_sample", "skew_paper_eq10")]
        params = ", ".join("-" if cell[p] is None else f"{cell[p]:g}" for p in ("theta", "K", "rho"))
        table.add_row(row["cells"]["variant"], row["cells"]["space"], *skew, _pm(agg["top1"]), _pm(agg["top5"]),
                      f"{cell['cv_top1']:.1f}", params)
    out.print(table)


def _rows_table(result: dict) -> None:
    rows = result["rows"]
    table = Table(title=f"{result['title']} (top-1 %, mean +- std over splits)")
    cells = list(rows[0]["cells"])
    cost = result["ablation"] in ("backbones", "clips")
    for col in cells:
        table.add_column(col)
    if cost:
        table.add_column("GMAC x clips", justify="right")
    for name in result["protocols"]:
        table.add_column(name, justify="right")
    for row in rows:
        c = row["cost"]
        gmac = [f"{c['gmac_per_clip']:.3g} x {row['test_clips']}" if c.get("measured") else "-"] if cost else []
        res = [row["results"][p]["aggregate"]["top1"] for p in result["protocols"]]
        table.add_row(*(str(row["cells"][k]) for k in cells), *gmac,
                      *(f"{a['mean']:.1f}" + (f" +- {a['std']:.1f}" if a["n"] > 1 else "") for a in res))
    out.print(table)
