"""`zsarbench compare A B`: two methods (or two runs of one) on the same test videos, video by video.

A and B are each a `zsarbench run` results file, a glob of them, or a comma-separated list: the
seeds of one method on one protocol (one file per seed; a seed found twice counts once, its latest
file). Before any statistic, every file is checked against A's first: the same protocol (name,
source and target tables), class list, split draw and test videos (data.target.digest); the files
of one side must hold one method with one set of options and overrides. A difference is a one-line
UserError naming it (exit code 2).

What is computed (top-1 throughout):
  - per seed found on both sides (two single files: whatever their seeds), per split: an exact
    McNemar test on the videos both evaluated,
    `scipy.stats.binomtest(b, b + c, 0.5)` (two-sided), where b = videos only A gets right and
    c = videos only B gets right: the counts of videos A fixes and breaks relative to B;
  - across seeds: the test orderings.md uses (stats.compare: Welch's t-test on the per-seed means
    of the per-split top-1 the JSON records; paired when both sides are the same trained models);
  - a hierarchical bootstrap of mean A - mean B (BOOTSTRAP: numpy resampling, because
    scipy.stats.bootstrap resamples one level only);
  - per class: the classes whose top-1 (pooled over seeds and splits) changes most.
Files without per-video predictions (written before they were recorded) still get the seed-level
test; the per-video parts say they are not available.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from .errors import UserError
from .predictions import Predictions, read_predictions
from .stats import compare as seed_level

RESAMPLES, LEVEL, TOP_CLASSES = 2000, 0.95, 10
MCNEMAR = ("exact McNemar test per seed and split on the videos both sides evaluated: scipy.stats.binomtest(b, b + c, "
           "0.5), two-sided; b = videos only A gets right (A fixes), c = videos only B gets right (A breaks)")
BOOTSTRAP = ("hierarchical bootstrap, numpy resampling (scipy.stats.bootstrap resamples one level only): each of "
             "{n} replicates draws A's seeds and B's seeds with replacement (independently: different models), then "
             "the splits with replacement, then each drawn split's videos with replacement; the drawn splits and videos "
             "are shared by A and B (both were scored on them); statistic: mean over seeds of the mean over splits of "
             "top-1 on the videos every file evaluated, A - B; {level:.0%} percentile interval; "
             "numpy.random.default_rng({seed})")


@dataclass
class Run:
    path: str
    doc: dict
    seed: int | None
    model: str
    preds: Predictions | None     # None: the file has no predictions


@dataclass
class Side:
    label: str
    runs: list[Run]
    notes: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        return self.runs[0].doc["method"]["name"]


def _files(spec: str, label: str) -> list[Path]:
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        found = sorted(glob.glob(part)) if glob.has_magic(part) else [part]
        out += [Path(f) for f in found if not f.endswith(".predictions.npz")]
    if not out:
        raise UserError(f"{label}: no results file matches '{spec}'")
    return list(dict.fromkeys(out))


def _read(path: Path, label: str) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{label}: results file {path} not found") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{label}: {path} is not a readable results file ({e})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "zsar-run":
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise UserError(f"{label}: {path} is a '{kind}' file; compare reads `zsarbench run` results (kind zsar-run)")
    return doc


def _settings(doc: dict) -> dict:
    """What must be equal among the files of one side: the method, its options and the overrides."""
    over = _flat(doc.get("overrides") or {})
    over.pop("recipe.seed", None)
    options = _flat(doc["method"].get("config"))
    return {"method": doc["method"]["name"], **{f"method option {k}": v for k, v in options.items()},
            **{f"override {k}": v for k, v in over.items()}}


def load_side(spec: str, label: str) -> Side:
    """The files of one side, one per seed (the latest of a seed found twice), sorted by seed."""
    by_seed, files, settings = {}, {}, None
    for path in _files(spec, label):
        doc = _read(path, label)
        s = _settings(doc)
        if settings is None:
            settings = (s, path)
        elif s != settings[0]:
            k = next(k for k in sorted(set(s) | set(settings[0]), key=str) if s.get(k) != settings[0].get(k))
            raise UserError(f"{label}: {settings[1]} and {path} are not one method with one set of options and "
                            f"overrides (the seed aside): {k} is {settings[0].get(k)!r} in the first, {s.get(k)!r} in "
                            "the second; give the files of one method")
        seed = doc.get("seed", (doc["protocol"].get("recipe") or {}).get("seed"))
        finished = (doc.get("provenance") or {}).get("finished") or ""
        files[seed] = files.get(seed, 0) + 1
        if seed in by_seed and finished < by_seed[seed][0]:
            continue
        by_seed[seed] = (finished, path, doc)
    notes = [f"seed {seed}: {n} files, the latest used" for seed, n in files.items() if n > 1]
    runs = []
    for seed, (_, path, doc) in sorted(by_seed.items(), key=lambda kv: (kv[0] is None, kv[0])):
        preds = read_predictions(path, doc) if doc.get("predictions") else None
        runs.append(Run(str(path), doc, seed, (doc.get("checkpoint") or {}).get("key") or str(path), preds))
    return Side(label, runs, notes)


# ----------------------------------------------------------------------------- refusals

def _flat(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


def difference(a: Run, b: Run) -> str | None:
    """What makes runs a and b incomparable video by video, in words; None when nothing does."""
    pa, pb = a.doc["protocol"], b.doc["protocol"]
    if pa["name"] != pb["name"]:
        return f"protocols differ: {pa['name']} in {a.path}, {pb['name']} in {b.path}"
    fa, fb = _flat({"source": pa.get("source"), "target": pa.get("target")}), \
        _flat({"source": pb.get("source"), "target": pb.get("target")})
    for k in sorted(set(fa) | set(fb)):
        if fa.get(k) != fb.get(k):
            return f"protocol field {k} differs: {fa.get(k)!r} in {a.path}, {fb.get(k)!r} in {b.path}"
    ca, cb = a.doc["data"]["target"]["classes"], b.doc["data"]["target"]["classes"]
    if ca != cb:
        only_a, only_b = sorted(set(ca) - set(cb)), sorted(set(cb) - set(ca))
        return (f"target class lists differ ({len(ca)} classes in {a.path}, {len(cb)} in {b.path}"
                + (f"; only in the first: {', '.join(only_a[:3])}" if only_a else "")
                + (f"; only in the second: {', '.join(only_b[:3])}" if only_b else "")
                + ("" if only_a or only_b else "; same names, another order") + ")")
    sa, sb = a.doc["splits"], b.doc["splits"]
    if len(sa) != len(sb):
        return f"split draws differ: {len(sa)} splits in {a.path}, {len(sb)} in {b.path}"
    for x, y in zip(sa, sb):
        if x["unseen_classes"] != y["unseen_classes"]:
            only = sorted(set(x["unseen_classes"]) - set(y["unseen_classes"]))
            other = sorted(set(y["unseen_classes"]) - set(x["unseen_classes"]))
            return (f"split draws differ: split {x['index']}'s unseen classes are not the same (only in {a.path}: "
                    f"{', '.join(only[:3]) or '-'}; only in {b.path}: {', '.join(other[:3]) or '-'})")
    da, db = (r.doc["data"]["target"].get("digest") or {} for r in (a, b))
    if da.get("videos") and db.get("videos") and da["videos"] != db["videos"]:
        return (f"target video sets differ: digest {da['videos']} ({da.get('n_videos')} videos) in {a.path}, "
                f"{db['videos']} ({db.get('n_videos')} videos) in {b.path}")
    return None


def check_comparable(A: Side, B: Side) -> None:
    ref = A.runs[0]
    for r in [*A.runs[1:], *B.runs]:
        why = difference(ref, r)
        if why:
            raise UserError(f"cannot compare: {why}")


# ----------------------------------------------------------------------------- statistics

def mcnemar(pa, pb) -> dict:
    """Exact McNemar on the videos both split predictions hold (top-1)."""
    hit_a = dict(zip(pa.videos, pa.hits(1)))
    hit_b = dict(zip(pb.videos, pb.hits(1)))
    shared = [v for v in pa.videos if v in hit_b]
    a = np.array([hit_a[v] for v in shared], dtype=bool)
    b = np.array([hit_b[v] for v in shared], dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = float(binomtest(only_a, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
    n = len(shared)
    return {"split": pa.index, "n_shared": n, "n_only_in_a": len(pa.videos) - n, "n_only_in_b": len(pb.videos) - n,
            "a_top1": round(100 * a.mean(), 3) if n else None, "b_top1": round(100 * b.mean(), 3) if n else None,
            "both_right": int((a & b).sum()), "a_fixes": only_a, "a_breaks": only_b,
            "both_wrong": int((~a & ~b).sum()), "p": p}


def shared_hits(A: Side, B: Side) -> tuple[list[np.ndarray], list[np.ndarray], list[list[str]], list[np.ndarray]]:
    """Per split: A's and B's top-1 hits (runs x videos) on the videos every run evaluated, those
    videos, and their true classes."""
    runs = A.runs + B.runs
    ha, hb, ids, labels = [], [], [], []
    for sp in runs[0].preds.splits:
        common = set(sp.videos)
        for r in runs[1:]:
            common &= set(r.preds.split(sp.index).videos)
        order = [v for v in sp.videos if v in common]

        def hits(r, sp=sp, order=order):
            s = r.preds.split(sp.index)
            h = dict(zip(s.videos, s.hits(1)))
            return np.array([h[v] for v in order], dtype=bool)
        ha.append(np.stack([hits(r) for r in A.runs]))
        hb.append(np.stack([hits(r) for r in B.runs]))
        lab = dict(zip(sp.videos, sp.label))
        ids.append(order)
        labels.append(np.array([lab[v] for v in order], dtype=np.int64))
    return ha, hb, ids, labels


def hierarchical_bootstrap(ha: list[np.ndarray], hb: list[np.ndarray], n: int = RESAMPLES, seed: int = 0) -> dict:
    """BOOTSTRAP; ha, hb: per split, hits (runs x shared videos)."""
    rng = np.random.default_rng(seed)
    S, na, nb = len(ha), len(ha[0]), len(hb[0])
    point = 100 * (np.mean([h.mean(1) for h in ha], 0).mean() - np.mean([h.mean(1) for h in hb], 0).mean())
    diffs = np.empty(n)
    for r in range(n):
        seeds_a, seeds_b = rng.integers(na, size=na), rng.integers(nb, size=nb)
        acc_a, acc_b = np.zeros(na), np.zeros(nb)
        for s in rng.integers(S, size=S):
            m = ha[s].shape[1]
            w = np.bincount(rng.integers(m, size=m), minlength=m) / m
            acc_a += ha[s] @ w
            acc_b += hb[s] @ w
        diffs[r] = 100 * (acc_a[seeds_a].mean() - acc_b[seeds_b].mean()) / S
    lo, hi = np.percentile(diffs, [50 * (1 - LEVEL), 100 - 50 * (1 - LEVEL)])
    return {"diff": round(float(point), 3), "ci": [round(float(lo), 3), round(float(hi), 3)], "level": LEVEL,
            "resamples": n, "seed": seed, "method": BOOTSTRAP.format(n=n, level=LEVEL, seed=seed)}


def class_changes(ha, hb, labels, classes: list[str], top: int = TOP_CLASSES) -> list[dict]:
    """The classes whose top-1, pooled over seeds and splits (shared videos), differs most, A - B."""
    right_a, right_b, count = {}, {}, {}
    for a, b, y in zip(ha, hb, labels):
        for c in np.unique(y):
            m = y == c
            right_a[c] = right_a.get(c, 0.0) + a[:, m].mean(0).sum()
            right_b[c] = right_b.get(c, 0.0) + b[:, m].mean(0).sum()
            count[c] = count.get(c, 0) + int(m.sum())
    rows = [{"class": classes[c], "n_videos": count[c], "a_top1": round(100 * right_a[c] / count[c], 3),
             "b_top1": round(100 * right_b[c] / count[c], 3)} for c in count]
    for row in rows:
        row["change"] = round(row["a_top1"] - row["b_top1"], 3)
    return sorted(rows, key=lambda r: (-abs(r["change"]), r["class"]))[:top]


def compare_sides(A: Side, B: Side, resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Everything `zsarbench compare` reports (module docstring), as one JSON-able dict."""
    check_comparable(A, B)
    values = lambda S: [[float(sp["top1"]) for sp in r.doc["splits"]] for r in S.runs]  # noqa: E731
    models = lambda S: [r.model for r in S.runs]  # noqa: E731
    c = seed_level(values(A), values(B), models(A), models(B))
    out = {"protocol": A.runs[0].doc["protocol"]["name"],
           "sides": {S.label: {"method": S.method, "seeds": [r.seed for r in S.runs], "files": [r.path for r in S.runs],
                               "label_words": [((r.doc["data"].get("label_words") or {}).get("digest")) for r in S.runs],
                               "notes": S.notes} for S in (A, B)},
           "seed_level": {"mean_a": c.mean_a, "mean_b": c.mean_b, "n_a": c.n_a, "n_b": c.n_b, "diff": c.diff,
                          "ci": list(c.ci) if c.ci else None, "p": c.p, "df": c.df, "verdict": c.verdict,
                          "method": c.method}}
    lacking = [r.path for r in A.runs + B.runs if r.preds is None]
    if lacking:
        out["per_video"] = f"not available: {', '.join(lacking)} hold(s) no per-video predictions (rerun the command)"
        return out
    by_seed_b = {r.seed: r for r in B.runs}
    pairs = [(ra, by_seed_b[ra.seed]) for ra in A.runs if ra.seed in by_seed_b]
    if not pairs and len(A.runs) == len(B.runs) == 1:    # two single files: paired whatever their seeds
        pairs = [(A.runs[0], B.runs[0])]
    out["mcnemar"] = {"method": MCNEMAR, "tests": [
        {"seed": ra.seed, **({"seed_b": rb.seed} if rb.seed != ra.seed else {}), **mcnemar(pa, rb.preds.split(pa.index))}
        for ra, rb in pairs for pa in ra.preds.splits]}
    ha, hb, ids, labels = shared_hits(A, B)
    out["bootstrap"] = hierarchical_bootstrap(ha, hb, resamples, seed)
    out["bootstrap"]["n_videos"] = [len(v) for v in ids]
    out["classes"] = class_changes(ha, hb, labels, A.runs[0].preds.classes)
    return out
