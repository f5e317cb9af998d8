"""Class name -> words.

The synthetic benchmark and HMDB51-style folders name classes with underscores ("bouncing_circle").
The per-dataset rules of E2E (CamelCase, stopwords, lemmatisation, override tables) belong here too.
"""

from __future__ import annotations

import re


def class_words(name: str, kind: str = "folder") -> list[str]:
    """Words of a class name, lower-case, split at underscores, hyphens and spaces."""
    return [w for w in re.split(r"[_\s\-]+", name.strip().lower()) if w]


def label_text(name: str, kind: str = "folder") -> str:
    return " ".join(class_words(name, kind))
