"""`zsarbench ablate <table>`: the paper's ablation tables (zsarbench/paper_tables.py)."""

import json

import pytest
from helpers import run_cli, run_here

from zsarbench.ablate import CHEAP_METHOD, accepted_options
from zsarbench.paper_tables import ABLATIONS, PARTS, TABLES
from zsarbench.protocol import load_protocol
from zsarbench.registry import list_methods


def test_every_table_names_registered_methods_and_the_papers_rows():
    P = load_protocol("synth-ucf-0-50")
    methods = set(list_methods())
    for name, part in ABLATIONS.items():
        built = part.rows(P, ("glove-6b-50d", "minilm-l6-v2"), "rest18")
        assert built and {r.method for r in built} <= methods, name
        ids = [r.id for r in built]
        assert len(set(ids)) == len(ids), f"{name}: row ids name one row each"
        for o in part.orderings:   # the paper's claims refer to rows the table has
            assert set(o.rows) <= set(ids), (name, o.rows)
    for t in TABLES:
        for part in t.parts:
            if not part.ablation:
                assert set(part.methods) <= methods
    clips = ABLATIONS["clips"].rows(P, (), "rest18")
    assert [(r.cells["Network"], r.cells["Frames"], r.recipe["test_clips"]) for r in clips] == [
        ("E2E_R(2+1)D", 6, 25), ("E2E_R(2+1)D", 6, 1), ("ResT_18", 6, 25), ("ResT_18", 6, 1), ("ResT_34", 3, 1),
        ("ResT_101", 2, 1)]   # the synthetic recipe's 6 frames, scaled as the paper's 16 : 8 : 4
    assert [r.variant for r in ABLATIONS["components"].rows(P, (), "rest18")] == ["s-space-nn"] * 3 + ["all"]
    assert accepted_options("e2e_r2plus1d", CHEAP_METHOD) == {}
    assert accepted_options("twostream_lstm18", CHEAP_METHOD) == {"dim": 128}
    assert PARTS["table1"].orderings[0].rows[:3] == ("rest101", "rest34", "rest18")


def test_cli_help_and_ls_tables_read_the_registry():
    r = run_cli("ablate", "--help")
    assert r.returncode == 0
    for name in ABLATIONS:
        assert name in r.stdout
    r = run_cli("ls", "tables", "--names")
    assert r.returncode == 0 and r.stdout.split() == [p for t in TABLES for p in (x.name for x in t.parts)]
    r = run_cli("ls", "tables", "architecture")
    assert r.returncode == 0 and "transformer > lstm > rnn" in r.stdout and "3(a)" in r.stdout
    r = run_cli("ablate", "architecture", "--help")
    assert "Paper Table 3(a)" in r.stdout and "synth-ucf-0-100" in r.stdout


@pytest.mark.train
@pytest.mark.slow  # trains and scores one model per embedding: minutes on 2 cores
def test_ablate_embeddings_scores_s_and_v_space_per_embedding(tmp_path, cache_dir):
    """Table 5 on the tiny protocol: one model, each embedding in S space and in V space."""
    args = ["ablate", "embeddings", "-p", "tests/protocols/tiny.toml", "--profile", "protocol",
            "--set", "method.dim=32", "--set", "method.depth=1", "--set", "method.heads=2",
            "--set", "recipe.warmup_epochs=0.2", "--set", "recipe.joint_epochs=0.2", "--set", "target.n_splits=2",
            "--set", "prototypes.max_videos_per_class=1", "--solver", "exact",
            "--cache-dir", str(cache_dir), "--results-dir", str(tmp_path)]
    r = run_here(*args)
    assert "Table 5" in r.output and "S2V (MiniLM)" in r.output and "GloVe" in r.output
    [path] = tmp_path.glob("tiny/ablate-embeddings-*.json")
    res = json.loads(path.read_text())
    assert res["kind"] == "zsar-ablation" and res["ablation"] == "embeddings" and res["protocols"] == ["tiny"]
    rows = res["rows"]
    assert [(row["embedding"], row["cells"]["Space"], row["variant"]) for row in rows] == [
        ("glove-6b-50d", "S", "s-space-nn"), ("minilm-l6-v2", "S", "s-space-nn"),
        ("glove-6b-50d", "V", "all"), ("minilm-l6-v2", "V", "all")]
    assert len({row["checkpoint"]["key"] for row in rows}) == 1, "one model for the whole table"
    assert all(row["checkpoint"]["reused"] for row in rows[1:]), "trained (at most) once, for the first row"
    for row in rows:
        cell = row["results"]["tiny"]
        assert cell["n_splits"] == 2 and 0 <= cell["aggregate"]["top1"]["mean"] <= 100
        assert (cell["K"] is None) == (row["cells"]["Space"] == "S")
        assert row["cost"]["measured"] and row["method"]["config"]["dim"] == 32
        assert row["label_table"] == "glove"   # minilm-l6-v2 shares glove's override table
    glove, minilm = (row["results"]["tiny"]["splits"][0]["edges"] for row in rows[2:])
    assert glove != minilm, "the transfer's relatedness comes from the row's embedding"
