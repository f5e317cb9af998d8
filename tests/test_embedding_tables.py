"""The label embedding is a dimension of the tables: a run with --embedding gets its own row."""

import json
import re

import numpy as np
import pytest
from helpers import ROOT, run_cli

from zsarbench.data.synth import MOTIONS, OBJECTS
from zsarbench.text.embeddings import load_embedding


def word2vec_fixture(path, cache_dir):
    """A tiny word2vec binary holding GloVe's vectors of every synthetic class word (real vectors,
    another file and backend than glove-6b-50d)."""
    from gensim.models import KeyedVectors

    glove = load_embedding("glove-6b-50d", str(cache_dir))
    words = sorted({*MOTIONS, *OBJECTS})
    kv = KeyedVectors(50)
    kv.add_vectors(words, np.stack([glove.kv[w] for w in words]).astype(np.float32))
    kv.save_word2vec_format(str(path), binary=True)
    return path


@pytest.mark.train   # trains rest_tiny under the word2vec labels (tens of seconds)
def test_a_word2vec_run_appears_in_table_1(tmp_path, cache_dir):
    vectors = word2vec_fixture(tmp_path / "vectors.bin", cache_dir)
    # the tiny protocol under Table 1's protocol name: a plain run (no --set) fills its cells
    proto = tmp_path / "synth-ucf-0-50.toml"
    proto.write_text((ROOT / "tests/protocols/tiny.toml").read_text())   # includes _synth.toml by name
    res_dir = tmp_path / "results"
    r = run_cli("run", "rest_tiny", "-p", str(proto), "--seed", "3", "--embedding", f"word2vec:{vectors}",
                "--cache-dir", str(cache_dir), "--results-dir", str(res_dir))
    assert r.returncode == 0, r.stderr[-3000:]
    [path] = res_dir.glob("synth-ucf-0-50/rest_tiny-*.json")
    res = json.loads(path.read_text())
    assert res["protocol"]["embedding"]["name"] == f"word2vec:{vectors}" and res["seed"] == 3
    r = run_cli("tables", "--results-dir", str(res_dir))
    assert r.returncode == 0, r.stderr
    mean = res["aggregate"]["top1"]
    # the number, then whatever marks it needs (report/marks.py: ‡ in an uncommitted worktree, collapsed splits)
    row = re.escape(f"| rest_tiny (rest_tiny; W2V) | {mean['mean']:.1f} ± {mean['std']:.1f}") + r"[^|\n]* \| - \|"
    assert re.search(row, (res_dir / "tables/table1.md").read_text())
