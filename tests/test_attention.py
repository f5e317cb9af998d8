import torch

from zsarbench.models.rest import PAD_ID, ResT, rest_attention_mask


def test_visual_tokens_never_see_words():
    m = rest_attention_mask(n_visual=5, n_words=3)
    assert m.shape == (8, 8)
    assert m[:5, 5:].all(), "CLS/visual rows must be blocked from every word column"
    assert not m[:5, :5].any(), "visual tokens attend to all visual tokens (bidirectional)"


def test_word_k_sees_words_up_to_k_and_all_visual():
    nv, nw = 4, 5
    m = rest_attention_mask(nv, nw)
    for k in range(nw):
        row = m[nv + k]
        assert not row[:nv].any(), "a word sees every visual token"
        for j in range(nw):
            assert bool(row[nv + j]) == (j > k), f"word {k} vs word {j}"


def _tiny(frames=4, words=3):
    torch.manual_seed(0)
    return ResT(num_classes=5, vocab_size=10, backbone="resnet18", dim=32, depth=2, heads=4,
                max_frames=frames, max_words=words).eval()


def test_cls_output_does_not_depend_on_words():
    """Masking makes [CLS], r, [MASK] and [CLS], r give the same x (what inference relies on)."""
    model = _tiny()
    feats = torch.randn(2, 4, model.feat_dim)
    with torch.no_grad():
        a = model(feats)["x"]
        b = model(feats, torch.tensor([[1, 0, 0], [1, 0, 0]]))["x"]
        c = model(feats, torch.tensor([[3, 4, 5], [6, 7, PAD_ID]]))["x"]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)


def test_word_output_depends_only_on_left_words():
    model = _tiny()
    feats = torch.randn(1, 4, model.feat_dim)
    with torch.no_grad():
        a = model(feats, torch.tensor([[3, 4, 5]]))["mlm_logits"]
        b = model(feats, torch.tensor([[3, 4, 9]]))["mlm_logits"]   # change the last word only
        c = model(feats, torch.tensor([[8, 4, 5]]))["mlm_logits"]   # change the first word
    torch.testing.assert_close(a[:, :2], b[:, :2], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(a[:, 2], b[:, 2])
    assert not torch.allclose(a[:, 1], c[:, 1]), "word 2 must see word 1"


def test_words_see_the_video():
    model = _tiny()
    w = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        a = model(torch.randn(1, 4, model.feat_dim), w)["mlm_logits"]
        b = model(torch.randn(1, 4, model.feat_dim), w)["mlm_logits"]
    assert not torch.allclose(a[:, 0], b[:, 0])


def test_bert_init_draws_transformer_weights_at_std_002_and_leaves_the_frame_encoder_alone():
    torch.manual_seed(0)
    bert = ResT(5, 10, dim=64, depth=2, heads=4, max_frames=4, max_words=3)
    torch.manual_seed(0)
    plain = ResT(5, 10, dim=64, depth=2, heads=4, max_frames=4, max_words=3, init="torch")
    layer = bert.encoder.layers[0]
    for w in (layer.self_attn.in_proj_weight, layer.linear1.weight, bert.proj.weight, bert.cls_head[0].weight):
        assert abs(float(w.std()) - 0.02) < 0.003 and abs(float(w.mean())) < 0.002
    assert float(layer.linear1.bias.abs().max()) == 0.0
    assert float(bert.word_emb.weight[PAD_ID].abs().max()) == 0.0
    # PyTorch's defaults are wider (xavier / kaiming-uniform): what init="torch" keeps
    assert float(plain.encoder.layers[0].linear1.weight.std()) > 0.05
    for (n, a), (_, b) in zip(bert.frame_encoder.named_parameters(), plain.frame_encoder.named_parameters()):
        assert torch.equal(a, b), n


def test_unknown_init_is_rejected():
    import pytest

    with pytest.raises(ValueError, match="init must be one of bert, torch"):
        ResT(5, 10, dim=32, depth=1, heads=4, init="xavier")
