"""A reproduction bundle of one result (`zsarbench bundle RESULTS.json -o FILE.tar.gz`) and its check
against someone else's copy of the data (`zsarbench verify FILE.tar.gz [--rerun]`).

The bundle (a gzip'd tar, written atomically, never over an existing file without --force) holds:
  BUNDLE.json         kind, version, the zsarbench that wrote it, and each member's sha256 and size
  results.json        the results file as the run wrote it (its command, protocol, digests, numbers)
  predictions.npz     its per-video predictions (predictions.py; the digest results.json records)
  protocol.json       the protocol as run (includes and overrides resolved); command.txt, the command
  environment.json    package versions and hardware of the run (`run`) and of the bundling (`bundled`)
  labels.json         class name -> words (or prompts) table, its digest, the class-name file's and the
                      embedding files' sha256 (text/names.py); class_names.toml, that file, when used
  manifest.json       per dataset the run read: its recorded digest and every video's path relative to
                      the root, size and fast content hash (what `data freeze` writes)
  training_log.json   the training log; checkpoint.json, the checkpoint key and method configuration

`verify` fails (VerifyFailed: one line, exit code 1) when the bundle is corrupt, when the user's
data differs from the manifest (class list, split draw, any video missing, added or changed), when
the label words the code makes now differ, or when the stored predictions do not re-score to the
recorded top-1/top-5; with --rerun it evaluates the cached model again (never trains: the model of
the bundle's checkpoint key must be in the cache) and compares every video's top-5 with the bundle's.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

from .errors import UserError
from .predictions import Predictions, read_predictions, rescore

KIND, VERSION = "zsar-bundle", 1


class VerifyFailed(Exception):
    """The bundle does not reproduce here: one line saying what differs."""


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def _first(items, n: int = 3) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _datasets(doc: dict) -> dict[str, str]:
    """dataset name -> role ('source', 'target' or 'source+target') of the datasets a run read."""
    out = {}
    for role in ("source", "target"):
        name = doc["data"][role]["dataset"]
        out[name] = f"{out[name]}+{role}" if name in out else role
    return out


def _resolve(name: str, P, cache_dir, roots: dict, allow: bool, progress=None):
    from .data.datasets import resolve_dataset

    return resolve_dataset(name, P, Path(cache_dir), progress, roots, allow)


# ----------------------------------------------------------------------------- bundle

def make_bundle(results_json: Path, out: Path, cache_dir, roots: dict, force: bool = False, progress=None) -> dict:
    """Write the bundle of a `zsarbench run` results file to `out`; returns its index (BUNDLE.json)."""
    from . import __version__
    from .artefacts import write_bytes_atomic
    from .data.manifest import HASH, video_table
    from .protocol import protocol_from_dict
    from .results import now, provenance

    results_json, out = Path(results_json), Path(out)
    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to overwrite it, or -o another file")
    try:
        raw = results_json.read_bytes()
        doc = json.loads(raw)
    except FileNotFoundError:
        raise UserError(f"results file {results_json} not found") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{results_json} is not a readable results file ({e})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "zsar-run":
        raise UserError(f"{results_json} is not a `zsarbench run` results file (kind zsar-run): bundle takes one")
    read_predictions(results_json, doc)   # present, and the file the JSON names
    preds = (results_json.parent / doc["predictions"]["file"]).read_bytes()
    P = protocol_from_dict(doc["protocol"])
    labels = doc["data"].get("label_words") or {}
    members = {"results.json": raw, "predictions.npz": preds, "protocol.json": _json(doc["protocol"]),
               "command.txt": (doc["command"] + "\n").encode(), "labels.json": _json(labels),
               "environment.json": _json({"run": doc.get("provenance"), "bundled": provenance()}),
               "training_log.json": _json(doc.get("training") or {}),
               "checkpoint.json": _json({**(doc.get("checkpoint") or {}), "method": doc["method"]})}
    if labels.get("class_names_file"):
        names = Path(labels["class_names_file"])
        data = names.read_bytes() if names.is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != labels.get("class_names_sha256"):
            raise UserError(f"the class-name file {names} is {'missing' if data is None else 'not the one the run read'}"
                            " (sha256 differs): restore it to bundle this result")
        members["class_names.toml"] = data
    datasets = {}
    for name, role in _datasets(doc).items():
        vs = _resolve(name, P, cache_dir, roots, bool(doc["data"].get("allow_nonstandard")), progress)
        recorded = doc["data"][role.split("+")[0]].get("digest") or {}
        if recorded and (vs.digest.get("classes"), vs.digest.get("videos")) != (recorded.get("classes"),
                                                                                 recorded.get("videos")):
            raise UserError(f"dataset '{name}' at {vs.root} is not the copy {results_json} was computed on (digest "
                            f"{vs.digest.get('videos')}, recorded {recorded.get('videos')}): pass the run's --data-root")
        table = video_table(vs, progress)
        datasets[name] = {"role": role, "digest": vs.digest, "n_videos": len(table), "videos": dict(sorted(table.items()))}
    members["manifest.json"] = _json({"kind": "zsar-video-manifest", "hash": HASH, "protocol": P.name,
                                      "datasets": datasets})
    index = {"kind": KIND, "version": VERSION, "zsarbench": __version__, "created": now(),
             "results": results_json.name, "members": {k: {"sha256": hashlib.sha256(v).hexdigest(), "bytes": len(v)}
                                                       for k, v in members.items()}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [("BUNDLE.json", _json(index)), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    write_bytes_atomic(out, buf.getvalue())
    return index


# ----------------------------------------------------------------------------- verify

def read_bundle(path: Path) -> dict[str, bytes]:
    """The members of a bundle, each checked against the sha256 its index records."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except FileNotFoundError:
        raise UserError(f"bundle {path} not found") from None
    except (OSError, tarfile.TarError, EOFError) as e:
        raise UserError(f"{path} is not a readable bundle (a .tar.gz `zsarbench bundle` writes): {e}") from None
    try:
        index = json.loads(members["BUNDLE.json"])
        assert index["kind"] == KIND
    except (KeyError, ValueError, AssertionError, TypeError):
        raise UserError(f"{path} is not a zsarbench bundle (no BUNDLE.json of kind {KIND})") from None
    if index.get("version") != VERSION:
        raise UserError(f"bundle {path} has version {index.get('version')}; this zsarbench reads version {VERSION}")
    for name, rec in index["members"].items():
        if name not in members:
            raise VerifyFailed(f"bundle member {name} is missing")
        if hashlib.sha256(members[name]).hexdigest() != rec["sha256"]:
            raise VerifyFailed(f"bundle member {name} is corrupt (its sha256 is not the one BUNDLE.json records)")
    return members


def check_data(members: dict, P, cache_dir, roots: dict, progress=None) -> list[str]:
    """The user's copies of the datasets against the bundle: class lists, the split draw, every video."""
    from .data.manifest import compare, video_table

    doc, manifest = json.loads(members["results.json"]), json.loads(members["manifest.json"])
    lines, target = [], None
    for name, m in manifest["datasets"].items():
        vs = _resolve(name, P, cache_dir, roots, bool(doc["data"].get("allow_nonstandard")), progress)
        if vs.digest.get("classes") != m["digest"].get("classes"):
            raise VerifyFailed(f"dataset '{name}' at {vs.root}: its class list differs from the bundle's "
                               f"({vs.digest.get('n_classes')} classes, the bundle's {m['digest'].get('n_classes')})")
        diff = compare(m["videos"], video_table(vs, progress))
        bad = [f"{len(diff[k])} {k} ({_first(diff[k])})" for k in ("changed", "missing", "extra") if diff[k]]
        if bad:
            n = sum(len(v) for v in diff.values())
            verb = "videos differ" if n > 1 else "video differs"
            raise VerifyFailed(f"dataset '{name}' at {vs.root}: {n} {verb} from the bundle's: " + "; ".join(bad))
        lines.append(f"{name}: {len(vs.classes)} classes, {m['n_videos']} videos, each as in the bundle")
        if "target" in m["role"]:
            target = vs
    draw = [[target.classes[c] for c in u] for u in P.splits(len(target.classes), target.classes)]
    recorded = [sp["unseen_classes"] for sp in doc["splits"]]
    if draw != recorded:
        k = next((i for i, (a, b) in enumerate(zip(draw, recorded)) if a != b), min(len(draw), len(recorded)))
        raise VerifyFailed(f"the split draw differs from the bundle's (split {k} of {len(recorded)}): this code "
                           "draws other unseen classes from the same protocol")
    lines.append(f"split draw: the bundle's {len(recorded)} splits")
    return lines


def check_words(members: dict, doc: dict) -> str:
    """The label words this code makes (with the bundled class-name file) equal the recorded ones,
    and the embedding's files are the recorded ones."""
    from types import SimpleNamespace

    from .text.names import embedding_digest, parse_class_names, words_of

    rec = doc["data"].get("label_words") or {}
    if "words" not in rec:
        return "label words: not recorded by this results file (written before they were)"
    names = parse_class_names(members["class_names.toml"].decode()) if "class_names.toml" in members else {}
    emb = doc["protocol"]["embedding"]["name"]
    for role, key in (("source", "seen"), ("target", "target")):
        d = doc["data"][role]
        vs = SimpleNamespace(name=d["dataset"], kind=rec["rules"][role])
        for c, words in rec["words"][key].items():
            now = words_of(c, vs, emb, names)
            if now != words:
                raise VerifyFailed(f"label words differ: {d['dataset']} class '{c}' is '{' '.join(now)}' here, "
                                   f"'{' '.join(words)}' in the bundle (the naming rules or override tables changed)")
    digest = embedding_digest(emb)["sha256"]
    if digest != rec["embedding"]["sha256"]:
        raise VerifyFailed(f"embedding {emb}: its files differ from the bundle's (sha256 {digest}, "
                           f"recorded {rec['embedding']['sha256']})")
    return f"label words: {len(rec['words']['seen'])} seen and {len(rec['words']['target'])} target classes as " \
           f"recorded (digest {rec['digest']}); embedding {emb} files as recorded"


def check_scores(doc: dict, preds: Predictions) -> str:
    """The stored predictions re-score to the recorded top-1 and top-5 of every split."""
    again = rescore(preds)
    for sp in doc["splits"]:
        got = again.get(sp["index"])
        for k in ("top1", "top5"):
            if got is None or abs(got[k] - sp[k]) > 1e-6:
                raise VerifyFailed(f"split {sp['index']}: the stored predictions give {k} "
                                   f"{None if got is None else got[k]}, the results record {sp[k]}")
    return f"re-scored from the stored predictions: top-1 and top-5 of all {len(doc['splits'])} splits as recorded"


def rerun(members: dict, doc: dict, P, ctx, preds: Predictions) -> str:
    """The evaluation again from the cached model (ctx.train False: never trains); every video's top-5
    must equal the bundle's."""
    from .engine.checkpoint import checkpoint_dir
    from .prepare import prepare
    from .scoring import score_variant

    key, method = doc["checkpoint"]["key"], doc["method"]["name"]
    if not (checkpoint_dir(ctx.cache_dir, method, key) / "model.pt").exists():
        raise UserError(f"--rerun needs the bundle's model ({method}, checkpoint key {key}) in the cache "
                        f"{ctx.cache_dir}: pass its --cache-dir, or train it with: {doc['command']}")
    with tempfile.TemporaryDirectory() as tmp:
        if "class_names.toml" in members:   # the bundled file stands in for the run's path
            names = Path(tmp) / "class_names.toml"
            names.write_bytes(members["class_names.toml"])
            P = replace(P, embedding=replace(P.embedding, class_names=str(names)))
        # the run's --set method.* (results written before the protocol carried them in its method table)
        P = replace(P, method={**P.method, **((doc.get("overrides") or {}).get("method") or {})})
        prep = prepare(method, P, ctx)
        if prep.key != key:
            raise VerifyFailed(f"this code computes checkpoint key {prep.key} for the bundle's run, not {key}")
        scored = score_variant(prep, doc["transfer"]["variant"], ctx.progress)
    new, differ, total = scored["predictions"], [], 0
    for old in preds.splits:
        now = new.split(old.index)
        a = {v: tuple(t) for v, t in zip(old.videos, old.top)}
        b = {v: tuple(t) for v, t in zip(now.videos, now.top)}
        total += len(a)
        differ += [f"split {old.index}: {v}" for v in sorted(set(a) | set(b)) if a.get(v) != b.get(v)]
    if differ:
        raise VerifyFailed(f"rerun: {len(differ)} of {total} videos' top-5 differ from the bundle's ({_first(differ)})")
    return f"rerun from the cached model {key}: all {total} videos' top-5 as in the bundle"


def verify(path: Path, cache_dir, roots: dict, rerun_model: bool = False, ctx=None, progress=None) -> list[str]:
    """The checks of the module docstring, in order; returns one line per check passed, raises
    VerifyFailed at the first that fails."""
    from .protocol import protocol_from_dict

    members = read_bundle(Path(path))
    doc = json.loads(members["results.json"])
    preds = read_predictions(Path(path) / "results.json", doc, data=members["predictions.npz"])
    P = protocol_from_dict(json.loads(members["protocol.json"]))
    lines = [f"bundle {path}: {len(members) - 1} members intact; {doc['method']['name']} on {P.name}, "
             f"seed {doc.get('seed')}"]
    lines += check_data(members, P, cache_dir, roots, progress)
    lines.append(check_words(members, doc))
    lines.append(check_scores(doc, preds))
    if rerun_model:
        lines.append(rerun(members, doc, P, ctx, preds))
    return lines
