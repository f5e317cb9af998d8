import torch

from zsarbench.models.rest import MASK_ID, PAD_ID, mask_words


def test_at_least_one_mask_and_pads_untouched():
    g = torch.Generator().manual_seed(0)
    words = torch.tensor([[5, PAD_ID, PAD_ID], [5, 6, PAD_ID], [5, 6, 7]]).repeat(500, 1)
    inp, tgt = mask_words(words, 0.15, g)
    masked = tgt != -100
    assert masked.any(1).all(), "every sample has at least one masked word"
    assert not masked[words == PAD_ID].any(), "padding is never masked"
    assert (inp[masked] == MASK_ID).all() and (tgt[masked] == words[masked]).all()
    assert (inp[~masked] == words[~masked]).all()
    assert masked[0::3].sum(1).eq(1).all(), "a one-word label is always masked"


def test_rate_is_about_fifteen_percent_on_long_labels():
    g = torch.Generator().manual_seed(1)
    words = torch.randint(2, 50, (4000, 40))
    _, tgt = mask_words(words, 0.15, g)
    rate = (tgt != -100).float().mean().item()
    assert 0.14 < rate < 0.16, rate
