"""The one reader of results files for reports: results/**/*.json -> validated `Result`s.

Only the kinds reports use are read ("zsar-run", "zsar-ablation"); other JSON under results/
(`zsarbench overlap` and `data check` reports, results/tables, results/figures) is left alone.
A malformed file, or one from a newer schema version, is a one-line UserError naming the file.
Schema: docs/results.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import UserError
from ..results import READABLE_VERSIONS, SCHEMA_VERSION, row_key
from .marks import model_facts

KINDS = ("zsar-run", "zsar-ablation")
REQUIRED = {  # dotted keys every file of a kind must have (what the reports read)
    "zsar-run": ("command", "method.name", "protocol.name", "protocol.target.dataset", "protocol.target.split",
                 "overrides", "metric_scale", "splits", "aggregate.top1", "aggregate.top5"),
    "zsar-ablation": ("command", "overrides", "metric_scale", "ablation"),
}
# An ablation file has `rows` scored on several `protocols` (schema 2, and the paper tables of
# schema 1); schema 1's constraint ablation had one protocol and its `variants` instead.
ABLATION_LAYOUTS = (("variants", "method.name", "protocol.name"), ("rows", "protocols"))
SKIP_DIRS = ("tables", "figures")


@dataclass(frozen=True)
class Result:
    path: str          # relative to the results root, '/'-separated: the same on every clone
    data: dict
    # checkpoint key -> what the run files of that model say of it (report/marks.py model_facts), for
    # ablation rows that do not record it themselves; shared by the results of one load_results
    models: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def method(self) -> str | None:
        return (self.data.get("method") or {}).get("name")

    @property
    def protocols(self) -> list[str]:
        return list(self.data["protocols"]) if "protocols" in self.data else [self.data["protocol"]["name"]]

    @property
    def protocol(self) -> str:
        return self.protocols[0]

    def rows(self, protocol: str) -> list[dict]:
        """An ablation's rows scored on `protocol`, in file order, in one shape for every layout:
        key (identifies the row across files), id (paper_tables.Row.id, None in schema 1 tables),
        label, cells (the paper's text columns), method, variant, aggregate, splits, cost,
        checkpoint (key of the model that produced it), data (the datasets it read, where recorded),
        training_verdict (where recorded)."""
        d = self.data
        if "variants" in d:   # schema 1, constraints
            return [{"key": v["variant"], "id": v["variant"], "label": v.get("label", v["variant"]),
                     "cells": {"space": v.get("space", "")}, "method": d["method"]["name"], "variant": v["variant"],
                     "aggregate": v["aggregate"], "splits": v.get("splits", []), "cost": d.get("cost") or {},
                     "checkpoint": (d.get("checkpoint") or {}).get("key"), "data": {}, "training_verdict": None}
                    for v in d["variants"] if protocol == d["protocol"]["name"]]
        out = []
        for row in d["rows"]:
            res = (row.get("results") or {}).get(protocol)
            if res is None:
                continue
            method = (row.get("method") or {}).get("name")
            key = row.get("key") or row_key(row.get("cells"), method, row.get("variant"), row.get("embedding"),
                                            row.get("recipe"))
            cells = row["cells"]
            label = cells["variant"] if "variant" in cells else " ".join(str(v) for v in cells.values())
            rid = row.get("id")
            if _names(row.get("label_words")):   # other class names: another row, marked, not the paper's row
                key, rid = f"{key}|names:{_names(row['label_words'])}", None
                label = f"{label} (class names {_names(row['label_words'])})"
            out.append({"key": key, "id": rid, "label": label, "cells": cells, "method": method,
                        "variant": row.get("variant"), "aggregate": res["aggregate"], "splits": res.get("splits", []),
                        "cost": row.get("cost") or {}, "checkpoint": (row.get("checkpoint") or {}).get("key"),
                        "accepted": _accepted(row.get("data") or {}),
                        "data": row.get("data") or {}, "training_verdict": row.get("training_verdict")})
        return out

    def accepted(self) -> list[str]:
        """The inputs that change the protocol that a run accepted (deviations.py: its data.accepted,
        --allow-nonstandard on a tree that is not the official one), and for files written before
        they were recorded, training classes that are target classes found in the file itself."""
        data = self.data.get("data") or {}
        found = set(_accepted(data))
        src, tgt = data.get("source") or {}, data.get("target") or {}
        norm = lambda names: {re.sub(r"[^0-9a-z]", "", str(c).lower()) for c in names or ()}  # noqa: E731
        if norm(src.get("seen_classes")) & norm(tgt.get("classes")):
            found.add("class-overlap")
        return sorted(found)

    @property
    def ablation(self) -> str | None:
        return self.data.get("ablation")

    @property
    def finished(self) -> str:
        """Sort key: the UTC time the run finished (ISO text), then the path."""
        return (self.data.get("provenance") or {}).get("finished") or ""

    def overrides(self) -> dict:
        """--set overrides as flat 'section.key' -> value, without the seed (runs that differ only in
        their seed are repeats of one cell) and the embedding (a dimension of the tables: `embedding`)."""
        return dict(self._overrides)

    @cached_property
    def _overrides(self) -> dict:     # every cell asks every result: flattened once
        flat = _flatten(self.data.get("overrides") or {})
        flat.pop("recipe.seed", None)
        flat.pop("embedding.name", None)
        flat.pop("embedding.class_names", None)   # a dimension too: `names`
        return flat

    def tuned(self, protocol: str | None = None) -> dict | None:
        """The tuning record of the protocol (`protocol.tuned`, written by `run`/`ablate -p OVERLAY`
        where the overlay came from `zsarbench tune`: study, trials, seconds, space), else None;
        `protocol`: which of an ablation's protocols (None: the first)."""
        protos = self.data.get("protocol")
        protos = protos if isinstance(protos, list) else [protos]
        p = next((p for p in protos if isinstance(p, dict) and protocol in (None, p.get("name"))), None)
        return (p or {}).get("tuned") or None

    @property
    def names(self) -> str | None:
        """A run's class-name file (embedding.class_names) by its sha256's first 8 digits, else None (the
        dataset rules): results of other class names get rows of their own (text/names.py)."""
        return _names((self.data.get("data") or {}).get("label_words"))

    @property
    def embedding(self) -> str | None:
        """The label embedding where the run chose another than its protocol's (--embedding), else None."""
        return _flatten(self.data.get("overrides") or {}).get("embedding.name")


def _names(label_words: dict | None) -> str | None:
    sha = (label_words or {}).get("class_names_sha256")
    return sha[:8] if sha else None


def _accepted(data: dict) -> list[str]:
    """Names of what a results file's `data` (of a run, or an ablation row) accepted."""
    found = set(data.get("accepted") or {})
    signatures = [str((data.get(r) or {}).get("signature") or "") for r in ("source", "target")]
    if data.get("allow_nonstandard") and any(s.startswith("nonstandard") for s in signatures):
        found.add("nonstandard")
    return sorted(found)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            raise KeyError(dotted)
        d = d[part]
    return d


def check(data, name: str) -> bool:
    """True for a results file reports read, False for other JSON; UserError if it is broken."""
    if not isinstance(data, dict):
        return False
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise UserError(f"{name}: results schema version {version} is newer than this zsarbench reads "
                        f"({SCHEMA_VERSION}); upgrade zsarbench")
    if data.get("kind") not in KINDS:
        return False
    if version not in READABLE_VERSIONS:
        raise UserError(f"{name}: kind '{data['kind']}' needs a schema_version in {READABLE_VERSIONS}, "
                        f"found {version!r}")
    layout = () if data["kind"] != "zsar-ablation" else ABLATION_LAYOUTS[0 if "variants" in data else 1]
    for key in (*REQUIRED[data["kind"]], *layout):
        try:
            _get(data, key)
        except KeyError:
            raise UserError(f"{name}: malformed results file: no '{key}'") from None
    return True


def load_results(root: Path) -> list[Result]:
    """Every run and ablation result under `root`, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"no results folder '{root}'")
    out = []
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in SKIP_DIRS or any(p.startswith(".") for p in rel.split("/")):
            continue
        text = path.read_text(errors="replace")
        if not text.strip():  # reserved by a run still in progress (results.new_results_path)
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: malformed JSON ({e})") from None
        if check(data, str(path)):
            out.append(Result(rel, data))
    facts = model_facts(out)
    return [Result(r.path, r.data, facts) for r in out]
