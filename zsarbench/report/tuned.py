"""Results of tuned overlays in the report: their row labels and the tuning budget the table notes
state. A result is tuned when its protocol carries a `tuned` record (results.protocol_fields,
tune.tuning_record: the study, its trials by state, the trials' wall seconds summed, the space):
`zsarbench run|ablate -p protocols/tuned/<method>--<protocol>.toml`. Tuned and untuned results are
never pooled (cells.Cell.tuned)."""

from __future__ import annotations

from .load import Result, _flatten


def _span(values, fmt) -> str:
    lo, hi = min(values), max(values)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}-{fmt(hi)}"


def label(records: list[dict]) -> str:
    """'tuned: 8 trials, 41 min' over the records of a row (one study per protocol: ranges)."""
    if not records:
        return "tuned"
    trials = _span([r.get("trials", 0) - r.get("failed", 0) for r in records], str)   # killed ones were retried
    minutes = _span([float(r.get("seconds") or 0.0) / 60 for r in records], lambda m: f"{m:.0f}")
    return f"tuned: {trials} trial{'s' * (trials != '1')}, {minutes} min"


def records(R: list[Result], method: str, protocols: list[str]) -> list[dict]:
    """The distinct tuning records (by study) of `method`'s tuned runs on `protocols`."""
    out = {}
    for r in R:
        t = r.tuned() if r.kind == "zsar-run" and r.method == method and r.protocol in protocols else None
        if t:
            out[t.get("study")] = t
    return [out[k] for k in sorted(out)]


def _space(space: dict) -> str:
    def one(name, spec):
        if "choices" in spec:
            return f"{name} in {{{', '.join(map(str, spec['choices']))}}}"
        scale = " log" if spec.get("log") else ""
        return f"{name} in [{spec['low']:g}, {spec['high']:g}{scale}]"
    return "; ".join(one(k, v) for k, v in sorted(space.items()))


def budget_notes(used: list[Result]) -> list[str]:
    """One note per tuning study behind the results a table used (none when no result is tuned)."""
    studies = {}
    for r in used:
        for p in r.protocols:
            t = r.tuned(p)
            if t:
                studies[t.get("study")] = (p, r.method if r.kind == "zsar-run" else None, t)
    if not studies:
        return []
    lines = ["Tuned rows (`zsarbench tune`, seen classes only; the target is never read): the protocol's recipe and "
             "method options replaced by the best point of a study, then run as any other row; never pooled with "
             "the untuned row. Budget of each study:"]
    for name in sorted(studies):
        p, method, t = studies[name]
        fixed = (t.get("fixed") or {})
        sets = [f"{k}={v}" for k, v in sorted(_flatten(fixed.get("overrides") or {}).items())]
        sets += [f"method.{k}={v}" for k, v in sorted((fixed.get("method_options") or {}).items())]
        lines.append(f"- {method or 'ablation'} on {p}: {t.get('trials')} trials ({t.get('complete')} complete, "
                     f"{t.get('pruned')} pruned"
                     + (f", {t['failed']} killed and retried" if t.get("failed") else "")
                     + f"), {float(t.get('seconds') or 0):.0f} s of trial wall time, sampler "
                     f"seed {t.get('seed')}, space {t.get('space_hash')}: {_space(t.get('space') or {})}; best "
                     f"seen-class CV top-1 {t['best']['cv_top1']:.1f} (trial {t['best']['number']})"
                     + (f"; fixed for every trial: {', '.join(sets)}" if sets else "") + f"; study `{name}`.")
    return lines
