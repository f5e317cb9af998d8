"""Baselines and ablations of the ResT paper as zsarbench methods, registered through the
`zsarbench.methods` entry-point group (see pyproject.toml) exactly as a third-party package would:

  e2e.py             E2E-style semantic-space baseline (R(2+1)D-18 + linear map to the label space)
  twostream.py       RNN / LSTM two-stream models (paper Table 3(a))
  rest_ablations.py  ResT with CLS only, MLM only (Table 3(b)), cross-modal attention (Table 3(c))
  clip.py            beyond the paper: an open_clip image-text model per frame, zero-shot from a user's
                     weights file or fine-tuned on the seen classes (clip_model.py: the open_clip glue)

Each full-size method has a tiny variant (`*_tiny`) for tests and smoke runs, as rest_tiny is to rest18.
"""
