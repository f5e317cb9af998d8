"""A generated precomputed-feature dataset (zsarbench.data.features' format) for the tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from zsarbench.data.features import BOX_DIMS, box_vector, write_feature_set


def make_fixture(root: Path, classes: list[str], videos_per_class: int, seed: int = 0, dim: int = 24,
                 regions: int = 3, steps: int = 8, naming: str = "synth") -> Path:
    """A small generated region-feature dataset: each word of a class name has a fixed random code
    (seeded by the word itself, so datasets share it), a region's feature is one word's code plus
    noise, boxes drift over time. Unseen classes share words with
    seen ones, so a model trained on one fixture can transfer to another."""
    rng = np.random.default_rng(seed)
    feat_dim = dim - BOX_DIMS
    items = []
    for cname in classes:
        words = cname.split()
        codes = {w: np.random.default_rng(_stable_seed(w)).normal(size=feat_dim) for w in words}
        for v in range(videos_per_class):
            arr = np.zeros((steps, regions, dim), np.float32)
            start = rng.uniform(0, 24, size=(regions, 2))
            vel = rng.normal(0, 1.5, size=(regions, 2))
            for t in range(steps):
                for r in range(regions):
                    w = words[(r + t) % len(words)]
                    arr[t, r, :feat_dim] = codes[w] + rng.normal(0, 0.5, feat_dim)
                    x, y = np.clip(start[r] + vel[r] * t, 0, 24)
                    arr[t, r, feat_dim:] = box_vector([x, y, x + 8, y + 8], t, steps, 32)
            items.append((cname, f"v{v:03d}", arr))
    return write_feature_set(root, items, dim, regions, BOX_DIMS, naming, "generated test fixture")


def _stable_seed(word: str) -> int:
    return int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
