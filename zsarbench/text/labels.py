"""Class name -> words, with E2E's rules per dataset (Brattoli et al., CVPR 2020).

Rules, in order (one `kind` per dataset; an override table entry wins over all of them):
  ucf101       split CamelCase ("ApplyEyeMakeup" -> apply eye makeup)
  all real     lower-case; cut from "(not" onward (it says what the class is not); drop other
               parentheses and "'s"; split at spaces, underscores and hyphens; drop stopwords
               (Kinetics; ActivityNet keeps "or"; E2E drops none for UCF101 and HMDB51);
               lemmatise words with a verb sense as verbs (playing -> play)
  generic      (synthetic data, manifests, plain folders) lower-case and split only

Override tables are data files: text/overrides/<kind>.toml (class name -> final words) and
text/overrides/lemmas.toml (word -> lemma, where spaCy's table picks the wrong verb). Each label
embedding uses one table (`label_table`): "word2vec" for word2vec:PATH, E2E's words (E2E's own
entries and, where E2E's WordNet lemmatiser differs from the rules, its result: every UCF101 and
HMDB51 class gets E2E's words); "glove" for every other embedding (glove-6b-50d, minilm-l6-v2),
E2E's entries and words that GloVe 6B lacks. A <kind>.toml's [words] belong to both tables, its
[glove] and [word2vec] sections to one.
Out-of-vocabulary words are never dropped here; the embedding reports them (text/embeddings.py).
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path

OVERRIDES_DIR = Path(__file__).resolve().parent / "overrides"
STOPWORDS = frozenset("a the of and at on in an or do using with".split())
KINDS = {  # kind -> stopwords it drops
    "ucf101": frozenset(), "hmdb51": frozenset(), "kinetics": STOPWORDS, "activitynet": STOPWORDS - {"or"},
}
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _key(name: str) -> str:
    """Override keys match whatever the layout uses between words ("Mooping_floor" = "Mooping floor")."""
    return " ".join(re.split(r"[_\s]+", name.strip()))


def label_table(embedding: str | None = None) -> str:
    """The override table of a label embedding: "word2vec" (E2E's words) for word2vec:PATH, the
    embedding E2E used; "glove" for any other, and when none is named."""
    return "word2vec" if embedding and embedding.startswith("word2vec:") else "glove"


@functools.lru_cache(maxsize=None)
def overrides(kind: str, table: str = "glove") -> dict[str, list[str]]:
    path = OVERRIDES_DIR / f"{kind}.toml"
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    return {_key(k): v.split() for k, v in {**data["words"], **data.get(table, {})}.items()}


@functools.lru_cache(maxsize=1)
def _lemma_fixes() -> dict[str, str]:
    return tomllib.loads((OVERRIDES_DIR / "lemmas.toml").read_text())["lemmas"]


@functools.lru_cache(maxsize=1)
def _verb_lemmas():
    """spaCy's English lookup lemmatiser (spacy-lookups-data, no model download) and its verb index.

    The lookup table ignores part of speech, so a lemma is used only when it is a verb: like E2E's
    WordNet rule, "playing" -> play and "glasses" -> glass, but "cookies" and "gymnastics" stay."""
    import spacy
    from spacy.lookups import load_lookups

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
    verbs = frozenset(load_lookups("en", ["lemma_index"]).get_table("lemma_index")["verb"])
    return table, verbs


def lemmatise_verb(word: str) -> str:
    if word in _lemma_fixes():
        return _lemma_fixes()[word]
    table, verbs = _verb_lemmas()
    lemma = table.get(word, word)
    return lemma if lemma in verbs else word


def has_override(name: str, kind: str, embedding: str | None = None) -> bool:
    return kind in KINDS and _key(name) in overrides(kind, label_table(embedding))


def class_words(name: str, kind: str = "generic", embedding: str | None = None) -> list[str]:
    """Words of a class name under the rules of `kind` and the override table of `embedding` (see
    the module docstring)."""
    if kind not in KINDS:
        return [w for w in re.split(r"[_\s\-]+", name.strip().lower()) if w]
    table = overrides(kind, label_table(embedding))
    if _key(name) in table:
        return list(table[_key(name)])
    text = " ".join(_CAMEL.findall(name)) if kind == "ucf101" else name
    text = text.lower().split("(not")[0].replace("(", " ").replace(")", " ").replace("'s", "")
    words = [w for w in re.split(r"[_\s\-]+", text) if w and w not in KINDS[kind]]
    return [lemmatise_verb(w) for w in words]

