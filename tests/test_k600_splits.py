"""The pinned Kinetics-600 zero-shot splits (Elaborative Rehearsal) are as published: 160 test and 60
validation names per split, all among the 220 Kinetics-600 classes that are not Kinetics-400's."""

from pathlib import Path

import pytest

from zsarbench.protocol import load_protocol

K400 = [ln for ln in (Path(__file__).parent / "data" / "kinetics400_classes.txt").read_text().splitlines()
        if ln and not ln.startswith("#")]


def splits():
    return [load_protocol(f"kinetics600-zs-{i}").target.pinned[f"split{i}"] for i in (1, 2, 3)]


def test_kinetics400_list():
    assert len(K400) == len(set(K400)) == 400


@pytest.mark.parametrize("i", [0, 1, 2])
def test_split_sizes_and_disjointness(i):
    s = splits()[i]
    test, val = s["test"], s["val"]
    assert len(test) == len(set(test)) == 160 and len(val) == len(set(val)) == 60
    assert not set(test) & set(val)
    assert not (set(test) | set(val)) & set(K400)      # zero-shot with respect to the source


def test_splits_share_the_220_new_classes():
    every = [set(s["test"]) | set(s["val"]) for s in splits()]
    assert every[0] == every[1] == every[2] and len(every[0]) == 220
    # as published: the test lists differ between splits; 3 classes are validation classes in all three
    tests = [set(s["test"]) for s in splits()]
    assert len({frozenset(t) for t in tests}) == 3
    assert every[0] - tests[0] - tests[1] - tests[2] == {"making horseshoes", "pillow fight", "spelunking"}
    # split i's test classes are the 220 minus its 60 validation classes (ER's construction)
    assert all(t == every[0] - set(s["val"]) for t, s in zip(tests, splits()))


def test_meta_protocol_is_the_three_splits():
    P = load_protocol("kinetics600-zs")
    assert P.target.n_splits == 3 and P.pinned_names() == ["split1", "split2", "split3"]
    assert [P.target.pinned[n] for n in P.pinned_names()] == splits()


def test_splits_are_elaborative_rehearsals_own_lists():
    """Each split's test and validation names are ER's class-index files at the cited commit, read
    through ER's own 620-class list (a copy: tests/data/er_zsl220.json)."""
    import json

    er = json.loads((Path(__file__).parent / "data" / "er_zsl220.json").read_text())
    names = er["classes620"]
    every = set(splits()[0]["test"]) | set(splits()[0]["val"])
    assert len(names) == 620 and names[400:] == sorted(every)   # ER's 220 new classes, alphabetical
    for s, tst, val in zip(splits(), er["tst_class_idxs"], er["val_class_idxs"]):
        assert sorted(s["test"]) == sorted(names[k] for k in tst)
        assert sorted(s["val"]) == sorted(names[k] for k in val)
