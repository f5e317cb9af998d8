"""The paper's figures from results/**/*.json (`zsarbench figures`), PNG and PDF in results/figures/.

Per protocol, from its latest plain `run` of the main method (rest18 if there is one):
  confusion-<protocol>   Figs. 5-7: confusion matrix of one split (0/100: every class)
  per-class-<protocol>   per-class top-1, pooled over the splits in which the class is unseen
  tsne-<protocol>        Fig. 4: t-SNE of split 0's test videos, composite prototypes as stars
  transfer-<protocol>    Fig. 3: relatedness matrix M and adjacency A of split 0
  hubness-<protocol>     k-occurrence histogram of psi_1 (per variant of the constraint ablation if
                         there is one on the protocol, else the run's)
Everything drawn is stored in the results (run.evaluate_split); nothing is recomputed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cells import display
from .load import Result

MAIN_METHOD = "rest18"
MAX_UNSEEN_ROWS, MAX_SEEN_COLUMNS = 20, 40   # Fig. 3 shows a subset of the classes when there are more


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "svg.hashsalt": "zsarbench"})
    return plt


def pretty(name: str) -> str:
    return name.replace("_", " ")


def main_runs(R: list[Result]) -> dict[str, Result]:
    """protocol -> its latest plain run (no overrides but the seed) that stores per-class results,
    of MAIN_METHOD if there is one, else of the first method by name."""
    runs: dict[str, list[Result]] = {}
    for r in R:
        if r.kind == "zsar-run" and not r.overrides() and not r.names and "confusion" in r.data["splits"][0]:
            runs.setdefault(r.protocol, []).append(r)
    out = {}
    for protocol, rs in sorted(runs.items()):
        method = min(rs, key=lambda r: (r.method != MAIN_METHOD, r.method)).method
        out[protocol] = max((r for r in rs if r.method == method), key=lambda r: (r.finished, r.path))
    return out


def _save(fig, out_dir: Path, stem: str) -> list[str]:
    fig.savefig(out_dir / f"{stem}.png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out_dir / f"{stem}.pdf", bbox_inches="tight", metadata={"CreationDate": None, "Creator": None,
                                                                       "Producer": None})
    _plt().close(fig)
    return [f"{stem}.png", f"{stem}.pdf"]


def _subtitle(r: Result) -> str:
    return f"{display(r.method)} on {r.protocol} ({r.path})"


# ----------------------------------------------------------------------------- figures

def confusion(r: Result, out_dir: Path) -> list[str]:
    sp = r.data["splits"][0]
    which = "all classes" if r.data["protocol"]["target"]["split"] == "0/100" else f"split {sp['index']}"
    return draw_confusion(np.asarray(sp["confusion"]), sp["unseen_classes"],
                          f"Confusion matrix, {which}: {len(sp['unseen_classes'])} unseen classes, {sp['n_videos']} "
                          f"videos, top-1 {sp['top1']:.1f}%\n{_subtitle(r)}; numbers: video counts", out_dir,
                          f"confusion-{r.protocol}")


def draw_confusion(counts: np.ndarray, classes: list[str], title: str, out_dir: Path, stem: str) -> list[str]:
    """A confusion matrix (rows: true class, columns: predicted, both in `classes` order) as PNG and
    PDF: colour = share of the true class's videos, numbers = counts (up to 25 classes)."""
    plt = _plt()
    C = np.asarray(counts, dtype=float)
    names = [pretty(c) for c in classes]
    n = len(names)
    share = 100 * C / np.maximum(C.sum(1, keepdims=True), 1)
    size = max(5.0, 0.32 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(n), names, rotation=90, fontsize=8 if n <= 40 else 5)
    ax.set_yticks(range(n), names, fontsize=8 if n <= 40 else 5)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if C[i, j]:
                    ax.text(j, i, f"{int(C[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 55 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="% of the true class's test videos")
    ax.set_title(title)
    return _save(fig, out_dir, stem)


def per_class(r: Result, out_dir: Path) -> list[str]:
    plt = _plt()
    hits, total = {}, {}
    for sp in r.data["splits"]:
        C = np.asarray(sp["confusion"])
        for j, c in enumerate(sp["unseen_classes"]):
            hits[c] = hits.get(c, 0) + int(C[j, j])
            total[c] = total.get(c, 0) + int(C[j].sum())
    classes = sorted((c for c in total if total[c]), key=lambda c: (hits[c] / total[c], c))
    acc = np.array([100 * hits[c] / total[c] for c in classes])
    agg = r.data["aggregate"]
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.22 * len(classes) + 1.5)))
    ax.barh(range(len(classes)), acc, color="tab:blue")
    for i, a in enumerate(acc):
        ax.text(a + 1, i, f"{a:.0f}%", va="center", fontsize=7)
    ax.set_yticks(range(len(classes)), [f"{pretty(c)} (n={total[c]})" for c in classes],
                  fontsize=8 if len(classes) <= 60 else 5)
    ax.axvline(agg["chance_top1"], color="tab:red", ls="--", label=f"chance ({agg['chance_top1']:.1f}%)")
    ax.axvline(acc.mean(), color="black", ls=":", label=f"mean of the bars ({acc.mean():.1f}%)")
    ax.set_xlim(0, 100)
    ax.set_xlabel("top-1 (%) over the test videos of the class, pooled over the splits where it is unseen")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Per-class top-1 ({len(r.data['splits'])} split(s); per-video top-1 {agg['top1']['mean']:.1f}%, "
                 f"mean class top-1 {agg['mean_class_top1']['mean']:.1f}%)\n{_subtitle(r)}")
    return _save(fig, out_dir, f"per-class-{r.protocol}")


def tsne(r: Result, out_dir: Path) -> list[str]:
    plt = _plt()
    p = r.data["splits"][0]["projection"]
    xy, lab, protos = np.asarray(p["videos"]["xy"]), np.asarray(p["videos"]["label"]), np.asarray(p["prototypes"]["xy"])
    n = len(p["classes"])
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    colours = [cmap(i % cmap.N) for i in range(n)]
    markers = ["o", "s", "^"]
    fig, ax = plt.subplots(figsize=(8.5, 6))
    for k, c in enumerate(p["classes"]):
        m = lab == k
        ax.scatter(xy[m, 0], xy[m, 1], s=18, color=colours[k], marker=markers[(k // cmap.N) % 3], alpha=0.8,
                   label=pretty(c))
        ax.scatter(*protos[k], s=320, marker="*", color=colours[k], edgecolor="black", linewidth=1.0, zorder=3)
    ax.scatter([], [], s=200, marker="*", color="white", edgecolor="black", label="composite prototype")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"t-SNE of split 0's unseen test videos ({len(xy)}) and composite prototypes (stars)\n"
                 f"{_subtitle(r)}")
    ax.text(0, -0.04, p["method"], transform=ax.transAxes, fontsize=7, va="top", color="0.3")
    return _save(fig, out_dir, f"tsne-{r.protocol}")


def transfer(r: Result, out_dir: Path) -> list[str]:
    plt = _plt()
    sp, tr = r.data["splits"][0], r.data["transfer"]
    M = np.asarray(sp["relatedness"])
    unseen, seen = sp["unseen_classes"], r.data["data"]["source"]["seen_classes"]
    A = np.zeros(M.shape, dtype=bool)
    col = {c: i for i, c in enumerate(seen)}
    for j, c in enumerate(unseen):
        for s, _ in sp["edges"].get(c, []):
            A[j, col[s]] = True
    rows = slice(0, MAX_UNSEEN_ROWS)
    n_unseen, unseen, M, A = len(unseen), unseen[rows], M[rows], A[rows]
    keep = np.arange(len(seen))
    if len(seen) > MAX_SEEN_COLUMNS:  # the selected seen classes, then each row's most related ones
        order = [i for i in np.flatnonzero(A.any(0))] + list(np.argsort(-M, axis=1, kind="stable").T.ravel())
        keep = np.sort(list(dict.fromkeys(int(i) for i in order))[:MAX_SEEN_COLUMNS])
    M, A = M[:, keep], A[:, keep]
    xlabels, ylabels = [pretty(seen[i]) for i in keep], [pretty(c) for c in unseen]
    w = max(7.0, 0.2 * len(keep) + 3)
    h = max(2.0, 0.22 * len(unseen) + 0.8)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(w, 2 * h + 2.5), sharex=True, layout="constrained")
    im = a1.imshow(M, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=a1, fraction=0.03, pad=0.01, label="cosine of label embeddings")
    a1.set_title("Semantic relatedness M (brighter: more related)")
    from matplotlib.colors import ListedColormap

    im = a2.imshow(A, cmap=ListedColormap(["white", "black"]), vmin=0, vmax=1, aspect="auto")
    fig.colorbar(im, ax=a2, fraction=0.03, pad=0.01, ticks=[0.25, 0.75]).ax.set_yticklabels(["no edge", "edge"])
    a2.set_title(f"Adjacency A chosen by the transfer (black: edge); theta={tr['theta']}, K={tr['K']}, "
                 f"rho={tr['rho']}")
    for ax in (a1, a2):
        ax.set_yticks(range(len(unseen)), ylabels, fontsize=7)
        ax.set_ylabel("unseen class" + (f" ({len(unseen)} of {n_unseen} shown)" if len(unseen) < n_unseen else ""))
    a2.set_xticks(range(len(keep)), xlabels, rotation=90, fontsize=7)
    a2.set_xlabel("seen class" + (f" ({len(keep)} of {len(seen)} shown)" if len(keep) < len(seen) else ""))
    fig.suptitle(f"Transfer of split 0: {_subtitle(r)}", fontsize=10)
    return _save(fig, out_dir, f"transfer-{r.protocol}")


def hubness(r: Result, ablation: Result | None, out_dir: Path) -> list[str]:
    """Histogram of psi_1(j) over prototypes j, pooled over the splits, per variant."""
    plt = _plt()
    if ablation is not None:
        rows = [v for v in ablation.rows(r.protocol) if v["variant"] in ("reverse", "none", "all")]
        series = [(f"{v['label']} ({v['cells']['space']})", v["splits"], v["aggregate"]["hubness"]["k1"]) for v in rows]
        source = f"{display(rows[0]['method'])} on {r.protocol} ({ablation.path})"
    else:
        series = [("All constraints (V)", r.data["splits"], r.data["aggregate"]["hubness"]["k1"])]
        source = _subtitle(r)
    psis = [np.concatenate([sp["hubness"]["k1"]["psi"] for sp in splits]) for _, splits, _ in series]
    top = int(max(p.max() for p in psis))
    edges = np.arange(top + 2) - 0.5 if top < 30 else np.linspace(-0.5, top + 0.5, 31)
    bw = edges[1] - edges[0]
    width = 0.8 * bw / len(series)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for i, ((label, _, agg), psi) in enumerate(zip(series, psis)):
        counts, _ = np.histogram(psi, edges)
        skew = agg["skew_paper_eq10"]["mean"]
        ax.bar(edges[:-1] + 0.1 * bw + width * (i + 0.5), counts, width,
               label=f"{label}: mean skewness (Eq. 10) {'undefined' if skew is None else f'{skew:.2f}'}")
    ax.set_xlabel(r"$\psi_1(j)$: test videos whose nearest prototype is $j$")
    ax.set_ylabel("prototypes (pooled over splits)")
    ax.legend(fontsize=8)
    ax.set_title(f"Hubness: k-occurrence distribution, k = 1\n{source}")
    return _save(fig, out_dir, f"hubness-{r.protocol}")


# ----------------------------------------------------------------------------- all

def write_figures(R: list[Result], out_dir: Path) -> list[str]:
    """Every figure the results allow; returns the file names written (stale figures are removed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ablations = {}
    for r in sorted(R, key=lambda r: (r.finished, r.path)):
        if r.kind == "zsar-ablation" and r.ablation == "constraints":
            ablations.update({p: r for p in r.protocols if r.rows(p)})
    written = []
    for protocol, r in main_runs(R).items():
        sp0 = r.data["splits"][0]
        written += confusion(r, out_dir) + per_class(r, out_dir)
        if "projection" in sp0:
            written += tsne(r, out_dir)
        if "relatedness" in sp0:
            written += transfer(r, out_dir)
        if "psi" in sp0.get("hubness", {}).get("k1", {}):
            written += hubness(r, ablations.get(protocol), out_dir)
    index = ["# Figures", "", "Generated by `zsarbench figures` (or `make tables`) from results/**/*.json.", "",
             *([f"- [{n}]({n})" for n in written if n.endswith(".png")]
               or ["None yet: no run stores per-class results (`make reference` writes them)."]), ""]
    (out_dir / "README.md").write_text("\n".join(index))
    for p in out_dir.iterdir():
        if p.suffix in (".png", ".pdf") and p.name not in written:
            p.unlink()
    return written
