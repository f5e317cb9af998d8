"""ResT: a cross-modal transformer over frame features and label words (Lin et al., CVPR 2022).

Sequence z0 = [CLS], r_1..r_T (projected frame features), w_1..w_Nc (label word tokens).
Attention (paper Sec. 3.2.2-3.2.3): CLS and visual tokens attend only to CLS and visual tokens;
word k attends to every visual token and to words 1..k. Because the visual side never sees words,
encoding a video alone gives exactly the CLS output that [CLS], r, [MASK] would (the paper's test
input), so inference runs on the visual tokens only.

Heads: x = LN(z_L^0) is the visual representation; CLS head = 1-hidden-layer MLP on x;
MLM head predicts masked label words over the label vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .backbones import frame_backbone

PAD_ID, MASK_ID = 0, 1  # special word ids; real words start at 2
# "rest": the paper's mask (rest_attention_mask). "cross": every token attends to every token, the
# cross-modal attention of paper Table 3(c) for both CLS and MLM.
ATTENTION = ("rest", "cross")
# "bert": every weight outside F drawn as in BERT (normal, std 0.02; zero biases), ResT's lineage;
# the paper does not say. "torch": PyTorch's layer defaults (xavier attention, kaiming-uniform
# linears), the initialisation before this option existed. Why BERT's (bench/seen_cv_probe.py, seen
# classes only): from one warmed-up F, 60 joint steps keep the seen-class CV top-1 of x at 39.5-40.5%
# with BERT's init but drop it to 31-34% with PyTorch's (40.6% for both before any joint step).
INIT = ("bert", "torch")


def rest_attention_mask(n_visual: int, n_words: int, device=None) -> torch.Tensor:
    """Boolean (L, L) mask, True = query row may NOT attend to key column.

    n_visual counts CLS plus the frame tokens."""
    L = n_visual + n_words
    blocked = torch.zeros(L, L, dtype=torch.bool, device=device)
    blocked[:n_visual, n_visual:] = True                              # visual never sees words
    causal = torch.triu(torch.ones(n_words, n_words, dtype=torch.bool, device=device), 1)
    blocked[n_visual:, n_visual:] = causal                            # word k sees words <= k
    return blocked


def mask_words(words: torch.Tensor, p: float, generator: torch.Generator | None = None):
    """BERT-style masking of label words with probability p, at least one per sample.

    words: (B, N) ids with PAD_ID padding. Returns (inputs with MASK_ID, targets with -100 where
    not masked)."""
    real = words != PAD_ID
    draw = torch.rand(words.shape, generator=generator, device=words.device) < p
    chosen = draw & real
    none = ~chosen.any(1)
    if none.any():  # force one masked word in samples that drew none
        scores = torch.rand(words.shape, generator=generator, device=words.device)
        scores = scores.masked_fill(~real, -1.0)
        pick = scores.argmax(1)
        chosen[none, pick[none]] = True
    inputs = words.masked_fill(chosen, MASK_ID)
    targets = words.masked_fill(~chosen, -100)
    return inputs, targets


def bert_init(module: nn.Module) -> None:
    """BERT's initialisation of one module's own weights: normal with std 0.02 (as Hugging Face's BERT;
    trunc_normal_'s default bounds are +-2 absolute, 100 std, so nothing is cut), zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.MultiheadAttention):
        nn.init.trunc_normal_(module.in_proj_weight, std=0.02)
        nn.init.zeros_(module.in_proj_bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.padding_idx is not None:
            module.weight.data[module.padding_idx].zero_()


def bert_init_outside_f(net: nn.Module) -> None:
    """BERT's initialisation for every module of `net` but the frame encoder F and the warm-up head."""
    for name, module in net.named_modules():
        if not name.startswith(("frame_encoder", "warmup_")):
            bert_init(module)


class ResTHeads(nn.Module):
    """The heads of ResT, shared by the networks trained as ResT (the two-stream RNN/LSTM): the
    representation's norm, the CLS and MLM heads and the warm-up head over F's features."""

    def _add_heads(self, num_classes: int, vocab_size: int, dim: int, feat_dim: int, max_frames: int) -> None:
        # Created in this order (parameter names, state_dict order and random draws depend on it).
        self.out_norm = nn.LayerNorm(dim)
        self.cls_head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, num_classes))
        self.mlm_head = nn.Linear(dim, vocab_size)
        # Warm-up head: the paper trains F alone first but does not say through which head.
        # A linear classifier over the time-ordered frame features keeps motion order visible;
        # features are layer-normalised per frame first, which keeps the wide (T * p) input stable.
        self.warmup_norm = nn.LayerNorm(feat_dim, elementwise_affine=False)
        self.warmup_head = nn.Linear(feat_dim * max_frames, num_classes)

    def warmup_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, p) frame features -> (B, C) warm-up logits (T up to max_frames, zero-padded)."""
        B, T, p = feats.shape
        flat = F.pad(self.warmup_norm(feats), (0, 0, 0, self.max_frames - T)).flatten(1)
        return self.warmup_head(flat)


class ResT(ResTHeads):
    def __init__(self, num_classes: int, vocab_size: int, backbone: str = "resnet18",
                 dim: int = 768, depth: int = 12, heads: int = 12, mlp_ratio: int = 4,
                 dropout: float = 0.1, max_frames: int = 32, max_words: int = 8, attention: str = "rest", init: str = "bert"):
        super().__init__()
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, not '{attention}'")
        if init not in INIT:
            raise ValueError(f"init must be one of {', '.join(INIT)}, not '{init}'")
        self.attention = attention
        self.frame_encoder, feat_dim = frame_backbone(backbone)
        max_frames *= getattr(self.frame_encoder, "tokens_per_step", 1)  # region features: R tokens a frame
        self.feat_dim, self.max_frames, self.max_words = feat_dim, max_frames, max_words
        self.proj = nn.Linear(feat_dim, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.word_emb = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.pos_emb = nn.Parameter(torch.zeros(1, 1 + max_frames + max_words, dim))
        self.type_emb = nn.Embedding(2, dim)  # 0 visual (and CLS), 1 word
        self.emb_norm = nn.LayerNorm(dim)
        self.emb_drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * mlp_ratio, dropout, activation="gelu",
                                           batch_first=True, norm_first=False)  # post-LN
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self._add_heads(num_classes, vocab_size, dim, feat_dim, max_frames)
        nn.init.trunc_normal_(self.pos_emb, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if init == "bert":
            bert_init_outside_f(self)

    # -- building blocks -------------------------------------------------------------------
    def _embed(self, feats: torch.Tensor, words: torch.Tensor | None) -> torch.Tensor:
        B, T, _ = feats.shape
        vis = torch.cat([self.cls_token.expand(B, -1, -1), self.proj(feats)], 1)
        vis = vis + self.type_emb.weight[0]
        parts = [vis]
        if words is not None:
            parts.append(self.word_emb(words) + self.type_emb.weight[1])
        z = torch.cat(parts, 1)
        n_vis = 1 + T
        pos = torch.cat([self.pos_emb[:, :n_vis],
                         self.pos_emb[:, 1 + self.max_frames:1 + self.max_frames + z.shape[1] - n_vis]], 1)
        return self.emb_drop(self.emb_norm(z + pos))

    # -- forward ---------------------------------------------------------------------------
    def forward(self, feats: torch.Tensor, words: torch.Tensor | None = None) -> dict:
        """feats: (B, T, p) frame features; words: (B, N) word ids (masked for MLM) or None.

        Returns x (B, D), cls_logits (B, C) and, with words, mlm_logits (B, N, V)."""
        B, T, _ = feats.shape
        if words is None and self.attention == "cross":  # the paper's test input [CLS], r, [MASK]
            words = torch.full((B, 1), MASK_ID, dtype=torch.long, device=feats.device)
        z = self._embed(feats, words)
        n_words = 0 if words is None else words.shape[1]
        attn = (rest_attention_mask(1 + T, n_words, feats.device) if self.attention == "rest"
                else torch.zeros(1 + T + n_words, 1 + T + n_words, dtype=torch.bool, device=feats.device))
        pad = None
        if words is not None:
            pad = torch.cat([torch.zeros(B, 1 + T, dtype=torch.bool, device=feats.device),
                             words == PAD_ID], 1)
        # is_causal=False says what torch would otherwise find by comparing the mask's values
        # (the mask is never the plain causal one); it also lets FLOPs be counted on the meta device.
        h = self.encoder(z, mask=attn, src_key_padding_mask=pad, is_causal=False)
        x = self.out_norm(h[:, 0])
        out = {"x": x, "cls_logits": self.cls_head(x)}
        if words is not None:
            out["mlm_logits"] = self.mlm_head(h[:, 1 + T:])
        return out
