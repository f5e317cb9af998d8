import numpy as np
import pytest

from zsarbench.errors import UserError
from zsarbench.protocol import make_splits


def test_zero_fifty_is_deterministic_half_sized_and_varies():
    a = make_splits(101, "0/50", 10)
    b = make_splits(101, "0/50", 10)
    assert a == b
    assert len(a) == 10
    for unseen in a:
        assert len(unseen) == 50 and len(set(unseen)) == 50
        seen_half = set(range(101)) - set(unseen)
        assert seen_half.isdisjoint(unseen) and len(seen_half) == 51
    assert len({tuple(s) for s in a}) == 10, "the 10 splits differ"


def test_split_s_is_first_half_of_permutation_seeded_with_s():
    for s, unseen in enumerate(make_splits(51, "0/50", 10)):
        assert unseen == sorted(np.random.RandomState(s).permutation(51)[:25].tolist())


def test_zero_hundred_is_all_classes_once():
    assert make_splits(20, "0/100", 10) == [list(range(20))]


def test_bad_split_name():
    with pytest.raises(UserError):
        make_splits(10, "0/30", 1)
