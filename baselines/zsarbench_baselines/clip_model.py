"""open_clip glue for the frame-level image-text method (clip.py): building a model offline, hashing
its weights file, prompts, and mapping the harness's clips into the image tower's input.

Nothing here downloads: the Hugging Face hub is put offline before open_clip is imported, the model
is built without any `pretrained` tag (a tag would fetch weights) and a user's file is loaded with
open_clip's own loader (`open_clip.load_checkpoint`, weights_only). open_clip is imported lazily so
that `zsarbench ls methods` does not pay for timm.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zsarbench.artefacts import reason
from zsarbench.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from zsarbench.engine.checkpoint import check_checkpoint, file_sha256
from zsarbench.errors import UserError, did_you_mean

TINY_ARCH = "zsar-clip-tiny"     # clip_configs/zsar-clip-tiny.json: random init, for tests
CONFIGS = Path(__file__).with_name("clip_configs")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

# Prompt templates by name (`method.template`); any other value is a template itself ("... {} ...").
TEMPLATES = {
    "name": ["{}"],
    "person": ["a video of a person {}."],
    # ActionCLIP / ViFi-CLIP style: the class embedding is the mean of the normalised embeddings
    "ensemble": ["{}", "a video of a person {}.", "a photo of a person {}.", "a person is {}.",
                 "a clip of {}.", "a demonstration of {}.", "an example of a person {}."],
}


def templates_of(template: str, method: str) -> list[str]:
    if template in TEMPLATES:
        return TEMPLATES[template]
    if template.count("{}") != 1:
        raise UserError(f"method '{method}': template {template!r} is neither {', '.join(TEMPLATES)} nor a "
                        "text with one {} for the class name")
    return [template]


def open_clip():
    """The open_clip module, imported with the hub offline and this package's configs registered."""
    for k, v in OFFLINE_ENV.items():
        os.environ[k] = v
    import huggingface_hub.constants as hub  # read its offline flag at import: set it if imported before
    hub.HF_HUB_OFFLINE = True
    import open_clip as oc
    if TINY_ARCH not in oc.list_models():
        oc.add_model_config(CONFIGS)
    return oc


def check_arch(arch: str, weights: str, method: str) -> None:
    """A one-line UserError for an architecture open_clip does not know, a hub name, or an
    architecture without weights (only the tiny test configuration may start random)."""
    oc = open_clip()
    if ":" in arch:
        raise UserError(f"method '{method}': arch '{arch}' names a remote or folder model; give an open_clip "
                        "architecture name (`python -c 'import open_clip; print(open_clip.list_models())'`)")
    if arch not in oc.list_models():
        raise UserError(f"method '{method}': unknown open_clip architecture '{arch}'"
                        f"{did_you_mean(arch, oc.list_models())}; e.g. ViT-B-32, ViT-B-16, ViT-L-14")
    if not weights and arch != TINY_ARCH:
        raise UserError(f"method '{method}': arch {arch} has no weights: pass method.weights=PATH (a checkpoint "
                        "file open_clip can load); zsarbench never downloads")


def check_weights_file(path: Path, method: str) -> None:
    """A cheap look at a weights file before any work (its format's header or directory, not its
    tensors): a file that is not a checkpoint at all is a one-line UserError now, not after the data."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            with safe_open(str(path), "pt") as f:
                f.keys()
        elif path.suffix not in (".npz", ".npy"):   # big_vision weights: open_clip reads them itself
            check_checkpoint(path)
    except Exception as e:
        raise UserError(f"method '{method}': weights file {path} is not a checkpoint ({reason(e)}); give a "
                        "state-dict file open_clip can load (.pt, .bin or .safetensors)") from None


def build(arch: str, weights: str, seed: int) -> torch.nn.Module:
    """The open_clip model: random init seeded by `seed`, then the weights file if one is given."""
    oc = open_clip()
    torch.manual_seed(seed)
    previous = logging.root.manager.disable   # open_clip warns on the root logger that it starts random
    logging.disable(logging.WARNING)
    try:
        model = oc.create_model(arch, pretrained=None, pretrained_image=False, pretrained_text=False)
    finally:
        logging.disable(previous)
    if weights:
        try:
            oc.load_checkpoint(model, weights)
        except Exception as e:   # not a state dict, another architecture, a TorchScript archive ...
            raise UserError(f"weights {weights} do not load into open_clip {arch} ({reason(e)}); give a "
                            "state-dict checkpoint of that architecture (docs: baselines/README.md)") from None
    return model


def tokenizer(arch: str):
    """open_clip's tokenizer of `arch` (the BPE vocabulary shipped inside the package for CLIP text towers)."""
    return open_clip().get_tokenizer(arch)


def weights_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of the weights file (memoised per path, size and mtime, on disk under the run's cache
    folder: a large file is hashed once)."""
    return file_sha256(path, cache_dir)


def prompts(class_words: list[list[str]], templates: list[str]) -> list[str]:
    """Every class's text under every template, class-major: (C * len(templates),)."""
    return [t.format(" ".join(words)) for words in class_words for t in templates]


def text_embeddings(model, tokens: torch.Tensor, n_templates: int) -> torch.Tensor:
    """(C * n_templates, L) tokens -> (C, d) unit class embeddings: the mean of each class's
    normalised template embeddings, normalised again (one template: its embedding)."""
    t = F.normalize(model.encode_text(tokens).float(), dim=-1)
    return F.normalize(t.view(-1, n_templates, t.shape[-1]).mean(1), dim=-1)


def clip_input(frames: torch.Tensor, model) -> torch.Tensor:
    """The harness's ImageNet-normalised frames (N, 3, h, w) -> the image tower's input: its own
    mean/std and its image size (bilinear resize when the crop differs)."""
    cfg = getattr(model.visual, "preprocess_cfg", {})
    dev = frames.device
    in_mean, in_std = (torch.tensor(v, device=dev).view(3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    mean, std = (torch.tensor(cfg.get(k, d), device=dev).view(3, 1, 1)
                 for k, d in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)))
    x = ((frames * in_std + in_mean) - mean) / std
    size = model.visual.image_size
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


def video_embeddings(model, clips: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, h, w) clips -> (B, d): the mean of the frames' normalised image embeddings, normalised."""
    B, T = clips.shape[:2]
    f = F.normalize(model.encode_image(clip_input(clips.flatten(0, 1), model)).float(), dim=-1)
    return F.normalize(f.view(B, T, -1).mean(1), dim=-1)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy().astype(np.float32)
