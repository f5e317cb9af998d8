"""Training memory of a method's network, estimated on the meta device: no weights, no GPU.

`estimate_memory` builds the network on the meta device (shapes only), runs the joint stage's
forward at (batch, frames, 3, crop, crop) and sums the sizes of the tensors autograd saves for the
backward (torch.autograd.graph.saved_tensors_hooks), parameters excluded. With the parameters, their
gradients and AdamW's two moments this is the peak a training step needs, before the allocator's
overhead, cuDNN workspaces and the backward's transient buffers. Under bf16 autocast (the GPU path)
the saved activations of convolutions and matmuls are bf16: roughly half the fp32 figure.
"""

from __future__ import annotations

import torch

GIB = 2 ** 30


def estimate_memory(method, frames: int | None = None, crop: int = 224, batch: int = 16,
                    n_classes: int = 664, words: int = 4, vocab: int = 1000) -> dict:
    """{"params", "param_bytes", "optimizer_bytes" (gradients + AdamW moments), "activation_bytes"
    (saved for the backward, fp32), "total_bytes"} and the same in GiB, of one joint-stage training
    step of `method` (a registered name or a ResT-like Method)."""
    from .methods.rest import _Stage
    from .registry import create_method

    method = create_method(method) if isinstance(method, str) else method
    frames = method.frames if frames is None else frames   # None: the method's own
    with torch.device("meta"):
        model = method._new_model(n_classes, vocab + 2, frames, words)
    model.train()
    params = {id(p) for p in model.parameters()}
    n_params = sum(p.numel() for p in model.parameters())
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor):
        base = t._base if t._base is not None else t
        if id(t) not in params and id(base) not in params:   # weights are counted once, as parameters
            saved[id(base)] = max(saved.get(id(base), 0), base.numel() * base.element_size())
        return t

    x = torch.empty(batch, frames, 3, crop, crop, device="meta")
    w = torch.zeros(batch, words, dtype=torch.long, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = _Stage(model, joint=True)(x, w)
    del out
    activation_bytes = sum(saved.values())
    optimizer_bytes = 3 * param_bytes    # gradients, AdamW's exp_avg and exp_avg_sq
    total = param_bytes + optimizer_bytes + activation_bytes
    return {"method": method.name, "frames": frames, "crop": crop, "batch": batch, "params": n_params,
            "param_bytes": param_bytes, "optimizer_bytes": optimizer_bytes, "activation_bytes": activation_bytes,
            "total_bytes": total, "param_gib": round(param_bytes / GIB, 3),
            "activation_gib": round(activation_bytes / GIB, 2), "total_gib": round(total / GIB, 2)}
