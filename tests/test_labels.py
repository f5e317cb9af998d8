"""Class name -> words (E2E's rules, override tables), overlap removal between datasets, the
`labels` and `overlap` commands, and the word2vec backend."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from helpers import needs, run_cli

from zsarbench.data.adapters import load_dataset
from zsarbench.data.overlap import overlap_between
from zsarbench.errors import UserError
from zsarbench.text.embeddings import load_embedding
from zsarbench.text.labels import KINDS, OVERRIDES_DIR, class_words, label_table

W2V = "word2vec:GoogleNews-vectors-negative300.bin"   # any word2vec:PATH: the table is chosen by the name
E2E_WORDS = tomllib.loads((Path(__file__).parent / "data" / "e2e_label_words.toml").read_text())
CLASSLISTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "classlists"  # shared/ beside the checkout


@pytest.fixture(scope="module")
def glove(cache_dir):
    return load_embedding("glove-6b-50d", str(cache_dir))


@pytest.mark.parametrize("kind, name, words", [
    ("ucf101", "ApplyEyeMakeup", ["apply", "eye", "makeup"]),          # CamelCase, lemmatised verb
    ("ucf101", "WalkingWithDog", ["walk", "dog"]),                     # stopword
    ("ucf101", "YoYo", ["yoyo"]),                                      # override
    ("ucf101", "HandStandPushups", ["handstand", "pushups"]),          # override (the files' spelling)
    ("hmdb51", "shake_hands", ["shake", "hand"]),
    ("hmdb51", "flic_flac", ["flic", "flac"]),
    ("kinetics", "hugging (not baby)", ["hug"]),                       # "(not ...)" removed
    ("kinetics", "curling hair", ["curl", "hair"]),
    ("kinetics", "mountain climber (exercise)", ["mountain", "climber", "exercise"]),
    ("kinetics", "massaging person's head", ["massage", "person", "head"]),
    ("kinetics", "passing American football (not in game)", ["pass", "american", "football", "park"]),
    ("kinetics", "swinging on something", ["swing", "something"]),     # lemma table, not "swinge"
    ("kinetics", "baking cookies", ["bake", "cookies"]),               # nouns keep their form
    ("kinetics", "catching or throwing frisbee", ["catch", "throw", "frisbee"]),
    ("activitynet", "Trimming branches or hedges", ["trim", "branch", "or", "hedge"]),  # keeps "or"
    ("activitynet", "Mooping floor", ["mop", "floor"]),                # misspelling override
    ("activitynet", "Mooping_floor", ["mop", "floor"]),
    ("activitynet", "Blow-drying hair", ["dry", "hair"]),
    ("activitynet", "Hand car wash", ["hand", "car", "wash"]),
    ("folder", "bouncing_circle", ["bouncing", "circle"]),             # synthetic / generic: split only
])
def test_class_words(kind, name, words):
    assert class_words(name, kind) == words


def test_override_tables_parse_and_are_in_the_default_embedding(glove):
    for kind in KINDS:
        data = tomllib.loads((OVERRIDES_DIR / f"{kind}.toml").read_text())
        assert set(data) <= {"words", "glove", "word2vec"}, kind
        assert data["words"] or data["glove"], kind
        for name, value in {**data["words"], **data.get("glove", {})}.items():   # the glove table
            assert not glove.oov(value.split()), (kind, name, value)
            assert class_words(name, kind) == class_words(name, kind, "glove-6b-50d") == value.split()
            assert class_words(name, kind, "minilm-l6-v2") == value.split()
        for name, value in {**data["words"], **data.get("word2vec", {})}.items():   # the word2vec table
            assert class_words(name, kind, W2V) == value.split(), (kind, name)
    lemmas = tomllib.loads((OVERRIDES_DIR / "lemmas.toml").read_text())["lemmas"]
    assert not glove.oov(list(lemmas.values()))


def test_word2vec_words_are_e2es_for_every_ucf101_and_hmdb51_class():
    """Under word2vec (E2E's embedding) every UCF101 and HMDB51 class has E2E's words
    (tests/data/e2e_label_words.toml: what E2E's auxiliary/auxiliary_word2vec.py makes of them)."""
    for kind in ("ucf101", "hmdb51"):
        wrong = {c: (class_words(c, kind, W2V), w) for c, w in E2E_WORDS[kind].items()
                 if class_words(c, kind, W2V) != w.split()}
        assert not wrong, wrong
    assert len(E2E_WORDS["ucf101"]) == 102 and len(E2E_WORDS["hmdb51"]) == 51   # + HandStandPushups


def test_e2e_words_cover_the_public_class_lists():
    needs(CLASSLISTS.is_dir(), f"no public class lists at {CLASSLISTS} (shared/ beside the checkout)")
    for kind in ("ucf101", "hmdb51"):
        names = [c for c in (CLASSLISTS / f"{kind}.txt").read_text().splitlines() if c]
        assert len(names) == {"ucf101": 101, "hmdb51": 51}[kind]
        assert set(names) <= set(E2E_WORDS[kind]), set(names) - set(E2E_WORDS[kind])


def test_glove_tables_words_are_kept_and_word2vec_gets_e2es():
    assert label_table(None) == label_table("glove-6b-50d") == label_table("minilm-l6-v2") == "glove"
    assert label_table(W2V) == "word2vec"
    cases = [("ucf101", "Skijet", "jet ski", "Skyjet"), ("ucf101", "PullUps", "pullup", "pullups"),
             ("ucf101", "HorseRiding", "horse ride", "horse rid"), ("ucf101", "YoYo", "yoyo", "yoyo"),
             ("hmdb51", "situp", "situps", "situp"), ("kinetics", "jetskiing", "jet ski", "jetskiing"),
             ("kinetics", "golf putting", "golf putt", "golf put"),
             ("kinetics", "tying knot (not on a tie)", "tie knot", "ty knot"),
             ("activitynet", "Playing flauta", "play flute", "play flauta"),
             ("synth", "rotating_square", "rotating square", "rotating square")]
    for kind, name, glove_words, w2v_words in cases:
        assert class_words(name, kind) == class_words(name, kind, "glove-6b-50d") == glove_words.split()
        assert class_words(name, kind, W2V) == w2v_words.split(), (kind, name)


def _class_list(tmp_path, name, classes):
    (tmp_path / f"{name}.txt").write_text("\n".join(classes) + "\n")
    return tmp_path / f"{name}.txt"


K = ["abseiling", "playing guitar", "brushing hair", "riding a bike", "playing bass guitar", "milking cow"]
UCF = ["PlayingGuitar", "ApplyEyeMakeup", "BlowDryHair"]
HMDB = ["brush_hair", "ride_bike", "clap"]


def test_overlap_between_datasets_uses_each_datasets_rules(tmp_path, glove):
    src = load_dataset("kinetics700", _class_list(tmp_path, "k", K))
    targets = [load_dataset("ucf101", _class_list(tmp_path, "u", UCF)),
               load_dataset("hmdb51", _class_list(tmp_path, "h", HMDB))]
    res, words = overlap_between(src, targets, glove, 0.05)
    removed = {r["source"]: (r["nearest_target"], r["target_dataset"], r["distance"]) for r in res.removed}
    assert removed["playing guitar"][:2] == ("PlayingGuitar", "ucf101") and removed["playing guitar"][2] < 1e-6
    assert removed["brushing hair"][:2] == ("brush_hair", "hmdb51")
    assert removed["riding a bike"][:2] == ("ride_bike", "hmdb51")
    assert "abseiling" in res.kept and "milking cow" in res.kept
    near = removed.get("playing bass guitar")  # near, not identical: decided by tau alone
    d = 1 - float((glove.class_vectors([["play", "bass", "guitar"]]) @ glove.class_vectors([["play", "guitar"]]).T)[0, 0])
    assert (near is not None) == (d < 0.05)
    assert words["ucf101"]["PlayingGuitar"] == ["play", "guitar"]
    res_strict, _ = overlap_between(src, targets, glove, 1e-6)
    assert len(res_strict.removed) == 3, "only the identical label vectors are below a tiny tau"


def test_labels_and_overlap_commands(tmp_path, cache_dir):
    r = run_cli("labels", "ucf101", f"--data-root=ucf101={_class_list(tmp_path, 'x', UCF + ['YoYo', 'ZzqxvDance'])}",
                "--embedding", "glove-6b-50d", "--cache-dir", str(cache_dir))
    assert r.returncode == 0, r.stderr
    assert "BlowDryHair" in r.stdout and "blow dry hair" in r.stdout and "zzqxv dance" in r.stdout
    assert ("5 classes, 1 from the override table, 1 with out-of-vocabulary words under glove-6b-50d"
            in r.stdout)
    r = run_cli("overlap", "--source", "kinetics700", "--targets", "ucf101,hmdb51", "--cache-dir", str(cache_dir),
                f"--data-root=kinetics700={_class_list(tmp_path, 'k', K)}",
                f"--data-root=ucf101={_class_list(tmp_path, 'u', UCF)}",
                f"--data-root=hmdb51={_class_list(tmp_path, 'h', HMDB)}", "--results-dir", str(tmp_path / "res"))
    assert r.returncode == 0, r.stderr
    assert "K664 subset under glove-6b-50d" in r.stdout and "PlayingGuitar" in r.stdout
    [saved] = (tmp_path / "res" / "overlap").glob("kinetics700-vs-ucf101+hmdb51-*.json")
    rep = json.loads(saved.read_text())
    assert rep["tau"] == 0.05 and rep["embedding"] == "glove-6b-50d" and rep["subset_name"] == "K664"
    assert {x["source"] for x in rep["removed"]} >= {"playing guitar", "brushing hair", "riding a bike"}
    assert len(rep["kept"]) + len(rep["removed"]) == len(K)
    assert f"removed {len(rep['removed'])}, kept {len(rep['kept'])} of 6 kinetics700 classes" in r.stdout


def test_word2vec_binary(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(4)
    kv.add_vectors(["play", "guitar", "Skyjet"], np.array([[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 1]], np.float32))
    path = tmp_path / "tiny.bin"
    kv.save_word2vec_format(str(path), binary=True)
    emb = load_embedding(f"word2vec:{path}", "/unused")
    v = emb.class_vectors([["play", "guitar"]])
    np.testing.assert_allclose(v[0], np.array([1, 1, 0, 0]) / np.sqrt(2), rtol=1e-6)
    with pytest.raises(UserError, match="skyjet"):
        emb.class_vectors([["skyjet"]], ["Skijet"])
    with pytest.raises(UserError, match="not found.*glove-6b-50d"):
        load_embedding(f"word2vec:{tmp_path / 'none.bin'}", "/unused")
