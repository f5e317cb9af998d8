"""RNN and LSTM two-stream models (paper Table 3(a)): the Transformer of ResT replaced by recurrent
networks, everything else kept.

A single recurrent network over both modalities collapses onto the text (the paper says so), so
there are two streams:
  visual stream  F per frame -> projection -> RNN/LSTM over time; x = LN(last hidden state), the
                 visual representation, with the CLS head on it (as ResT's LN(z_L^0));
  text stream    the (masked) label words -> RNN/LSTM started from the visual stream's final state,
                 predicting the masked words (MLM) - the bridge between the two spaces, like ResT's
                 words attending to the frames; the visual side never sees words.
The options checks, training (warm-up of F, then joint L_cls + w L_mtl), encoding, transfer and
evaluation are ResT's (zsarbench/methods/rest.py): only the network differs (`_new_model`), its
heads built by ResT's own code (models/rest.py ResTHeads). Its initialisation is ResT's too:
BERT's (normal, std 0.02) for every linear and embedding layer outside F, the recurrent cells
keeping PyTorch's; `init = "torch"` keeps PyTorch's everywhere.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn as nn

from zsarbench.fields import OneOf, Range
from zsarbench.methods.rest import Positive, ResTMethod
from zsarbench.models.backbones import frame_backbone
from zsarbench.models.rest import INIT, PAD_ID, ResTHeads, bert_init_outside_f
from zsarbench.registry import register_search_space

DEFAULTS = dict(backbone="resnet18", frames=16, dim=768, layers=1, dropout=0.1, init="bert")
OPTIONS = dict(backbone=str, frames=Positive, dim=Positive, layers=Positive,   # check_options
               dropout=Annotated[float, Range(0, 1, hi_open=True)], init=Annotated[str, OneOf(*INIT)])
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM}


class TwoStream(ResTHeads):
    def __init__(self, num_classes: int, vocab_size: int, cell: str = "lstm", backbone: str = "resnet18",
                 dim: int = 768, layers: int = 1, dropout: float = 0.1, max_frames: int = 16, max_words: int = 8,
                 init: str = "bert"):
        super().__init__()
        self.frame_encoder, feat_dim = frame_backbone(backbone)
        max_frames *= getattr(self.frame_encoder, "tokens_per_step", 1)  # region features: R tokens a frame
        self.feat_dim, self.max_frames, self.max_words, self.cell = feat_dim, max_frames, max_words, cell
        rnn = CELLS[cell]
        drop = dropout if layers > 1 else 0.0
        self.proj = nn.Linear(feat_dim, dim)
        self.visual = rnn(dim, dim, layers, batch_first=True, dropout=drop)
        self.word_emb = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.text = rnn(dim, dim, layers, batch_first=True, dropout=drop)
        self.drop = nn.Dropout(dropout)
        self._add_heads(num_classes, vocab_size, dim, feat_dim, max_frames)   # ResT's (F is warmed up alike)
        if init == "bert":   # as ResT's
            bert_init_outside_f(self)

    def forward(self, feats: torch.Tensor, words: torch.Tensor | None = None) -> dict:
        """feats (B, T, p) frame features; words (B, N) (masked) word ids or None -> x, cls_logits,
        and with words mlm_logits (B, N, V)."""
        _, state = _run_rnn(self.visual, self.drop(self.proj(feats)))
        h = state[0] if self.cell == "lstm" else state         # (layers, B, dim)
        x = self.out_norm(h[-1])
        out = {"x": x, "cls_logits": self.cls_head(x)}
        if words is not None:
            seq, _ = _run_rnn(self.text, self.drop(self.word_emb(words)), state)
            out["mlm_logits"] = self.mlm_head(seq)
        return out


def _run_rnn(rnn: nn.Module, x: torch.Tensor, state=None):
    """rnn(x, state), in fp32 under CPU autocast: autocast casts RNNs to bf16 there, and oneDNN has no
    bf16 LSTM on CPUs without AVX-512 BF16 (AVX2: "could not create a primitive descriptor")."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return rnn(x, state)
    f32 = lambda t: t.float()   # noqa: E731
    with torch.autocast("cpu", enabled=False):
        state = None if state is None else tuple(map(f32, state)) if isinstance(state, tuple) else f32(state)
        return rnn(f32(x), state)


class TwoStreamMethod(ResTMethod):
    """ResT's options checks, training and encoding around the two-stream network."""
    DEFAULTS, OPTIONAL, OPTIONS = DEFAULTS, {}, OPTIONS

    def __init__(self, name: str, cell: str, **config):
        super().__init__(name, **config)
        self.cfg["cell"] = cell   # in the checkpoint key, not an option

    def _new_model(self, n_classes: int, vocab_size: int, frames: int, max_words: int) -> nn.Module:
        c = self.cfg
        return TwoStream(n_classes, vocab_size, c["cell"], c["backbone"], c["dim"], c["layers"], c["dropout"],
                         max_frames=frames, max_words=max_words, init=c.get("init", "torch"))


def twostream_rnn18(**overrides) -> TwoStreamMethod:
    """Two-stream RNN over ResNet-18 frame features, ResT's losses and transfer (paper Table 3(a))."""
    return TwoStreamMethod("twostream_rnn18", "rnn", **overrides)


def twostream_lstm18(**overrides) -> TwoStreamMethod:
    """Two-stream LSTM over ResNet-18 frame features, ResT's losses and transfer (paper Table 3(a))."""
    return TwoStreamMethod("twostream_lstm18", "lstm", **overrides)


def twostream_rnn_tiny(**overrides) -> TwoStreamMethod:
    """A tiny two-stream RNN (64-d, 4 frames) for tests."""
    return TwoStreamMethod("twostream_rnn_tiny", "rnn", **{"frames": 4, "dim": 64, **overrides})


def twostream_lstm_tiny(**overrides) -> TwoStreamMethod:
    """A tiny two-stream LSTM (64-d, 4 frames) for tests."""
    return TwoStreamMethod("twostream_lstm_tiny", "lstm", **{"frames": 4, "dim": 64, **overrides})


# `zsarbench tune`'s search spaces (seen-class CV only; zsarbench/tune.py): ResT's recipe fields (the
# two stages: warm-up length and learning rates) and the recurrent network's hidden size, depth and
# dropout (method options: the overlay's [method] table). The tiny variants: fractions of an epoch and
# small networks (seconds a trial); registered first, as the first matching pattern wins.
register_search_space("twostream_*_tiny", {
    "recipe.warmup_epochs": {"low": 0.1, "high": 0.3},
    "recipe.joint_epochs": {"low": 0.1, "high": 0.3},
    "recipe.joint_lr": {"low": 1e-5, "high": 3e-4, "log": True},
    "method.dim": {"choices": [32, 64]},
    "method.layers": {"low": 1, "high": 2, "int": True},
})
register_search_space("twostream_*", {
    "recipe.warmup_epochs": {"low": 1, "high": 6},
    "recipe.warmup_lr": {"low": 1e-3, "high": 0.1, "log": True},
    "recipe.joint_lr": {"low": 1e-5, "high": 3e-4, "log": True},
    "method.dim": {"choices": [256, 512, 768]},
    "method.layers": {"low": 1, "high": 2, "int": True},
    "method.dropout": {"low": 0.0, "high": 0.3},
})
