"""The image-text baseline (baselines/zsarbench_baselines/clip.py) on the tiny random open_clip
configuration: zero-shot and fine-tuned runs through `zsarbench run`, weights files and their hash,
templates, resume, and that nothing is ever downloaded."""

import hashlib
import json
import socket

import numpy as np
import pytest
import torch
from helpers import run_entry, run_here

from zsarbench import create_method
from zsarbench.errors import UserError

CLIP_FAST = ["-p", "tests/protocols/tiny.toml", "--set", "recipe.joint_epochs=0.5", "--set", "recipe.batch_size=4"]
WORDS = [["bouncing", "circle"], ["sliding", "star"], ["falling", "square"]]


def _results(folder) -> dict:
    [path] = list(folder.rglob("*.json"))
    return json.loads(path.read_text())


def _tiny_weights(tmp_path, seed: int = 7):
    """A weights file as a user would hand one in: a saved open_clip state dict (here the tiny config's)."""
    m = create_method("clip_tiny")
    m._build(4, seed)
    path = tmp_path / f"tiny-seed{seed}.pt"
    torch.save(m.model.state_dict(), path)
    return path, m


def test_zero_shot_run_writes_results_with_arch_weights_hash_and_template(tmp_path, cache_dir):
    weights, _ = _tiny_weights(tmp_path)
    run_here("run", "clip_tiny", *CLIP_FAST, "--set", f"method.weights={weights}", "--set", "method.template=ensemble",
             "--cache-dir", cache_dir, "--results-dir", tmp_path / "res")
    d = _results(tmp_path / "res")
    det = d["method"]["details"]
    assert det["arch"] == "zsar-clip-tiny" and det["weights"] == str(weights.resolve())
    assert det["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert det["template"] == "ensemble" and len(det["templates"]) > 1 and not det["finetuned"]
    assert d["training"]["zero_shot"] and d["transfer"]["variant"] == "label-nn"
    assert d["method"]["config"]["weights"] == f"sha256:{det['weights_sha256']}"   # the key: content, not path
    assert len(d["splits"]) == 3 and all(0 <= sp["top1"] <= 100 for sp in d["splits"])
    ckpt = torch.load(d["checkpoint"]["path"], weights_only=True)
    assert ckpt["method"]["model"] == {}, "zero-shot from a file: the checkpoint holds no copy of the weights"


def test_weights_file_is_loaded_and_template_changes_class_embeddings(tmp_path):
    weights, seeded = _tiny_weights(tmp_path, seed=7)
    loaded = create_method("clip_tiny", weights=str(weights))
    loaded._build(4, seed=0)                     # random init at seed 0, then the seed-7 weights file
    person = loaded.class_vectors(WORDS)
    np.testing.assert_allclose(person, seeded.class_vectors(WORDS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(person, axis=1), 1, atol=1e-5)
    for template in ("name", "ensemble", "a clip of {}"):
        other = create_method("clip_tiny", weights=str(weights), template=template)
        other._build(4, seed=0)
        assert np.abs(other.class_vectors(WORDS) - person).max() > 1e-3, template
    # zero-shot features do not depend on the template: it stays out of the checkpoint key
    assert create_method("clip_tiny", template="name").config() == create_method("clip_tiny").config()
    assert create_method("clip_tiny_ft", template="name").config() != create_method("clip_tiny_ft").config()


def test_nothing_is_downloaded(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    import huggingface_hub
    import open_clip
    for mod, fn in ((huggingface_hub, "hf_hub_download"), (open_clip.pretrained, "download_pretrained"),
                    (open_clip.pretrained, "download_pretrained_from_hf")):
        monkeypatch.setattr(mod, fn, no_network)
    m = create_method("clip_tiny")
    m._build(4, 0)
    assert m.class_vectors(WORDS).shape == (3, 32) and m.encode_clips(torch.zeros(2, 4, 3, 32, 32)).shape == (2, 32)
    import os
    assert os.environ["HF_HUB_OFFLINE"] == "1" and huggingface_hub.constants.HF_HUB_OFFLINE
    with pytest.raises(UserError, match="pass method.weights=PATH.*never downloads"):
        create_method("clip_frames", arch="ViT-B-32")
    with pytest.raises(UserError, match="remote or folder model"):
        create_method("clip_frames", arch="hf-hub:timm/vit_base_patch32_clip_224.openai")


@pytest.mark.parametrize("options, message", [
    ({"weights": "/nonexistent/ViT-B-32.pt"}, "weights file /nonexistent/ViT-B-32.pt not found"),
    ({"arch": "ViT-B-33", "weights": ""}, "unknown open_clip architecture 'ViT-B-33'"),
    ({"template": "a video of"}, "neither name, person, ensemble nor a text with one {}"),
    ({"frames": 0}, "frames must be an integer >= 1"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UserError, match=message):
        create_method("clip_tiny", **options)


def test_bad_weights_exit_2_with_one_line(tmp_path, cache_dir, capsys):
    code, out, err = run_entry(capsys, "run", "clip_tiny", *CLIP_FAST, "--set", "method.weights=/nope/w.pt",
                               "--cache-dir", cache_dir, "--results-dir", tmp_path)
    assert code == 2 and err.count("\n") == 1 and "weights file /nope/w.pt not found" in err
    code, out, err = run_entry(capsys, "run", "clip_frames", *CLIP_FAST, "--cache-dir", cache_dir, "--results-dir", tmp_path)
    assert code == 2 and err.count("\n") == 1 and "zsarbench never downloads" in err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    code, out, err = run_entry(capsys, "run", "clip_tiny", *CLIP_FAST, "--set", f"method.weights={junk}",
                               "--cache-dir", cache_dir, "--results-dir", tmp_path)
    assert code == 2 and err.count("\n") == 1 and f"weights file {junk} is not a checkpoint" in err, err
    # a checkpoint of another architecture: found when the weights load (after the data), still one line
    other = create_method("clip_tiny")
    other._build(4, 0)
    state = other.model.state_dict()
    state["text_projection"] = state["text_projection"][:, :16]
    torch.save(state, junk)
    code, out, err = run_entry(capsys, "run", "clip_tiny", *CLIP_FAST, "--set", f"method.weights={junk}",
                               "--cache-dir", cache_dir, "--results-dir", tmp_path)
    assert code == 2 and err.splitlines()[-1].startswith(f"error: weights {junk} do not load into open_clip "
                                                         "zsar-clip-tiny (RuntimeError"), err
    assert "Traceback" not in err and not list(tmp_path.rglob("*.json"))


@pytest.mark.train
def test_fine_tuned_run_changes_the_weights_and_resumes(tmp_path, cache_dir, monkeypatch):
    from zsarbench.context import RunContext
    from zsarbench.engine.train import Trainer, TrainState
    from zsarbench.experiment import resolve
    from zsarbench.prepare import load_data
    from zsarbench.protocol import load_protocol, parse_set

    P = resolve("clip_tiny_ft", load_protocol(CLIP_FAST[1], parse_set([v for k, v in zip(CLIP_FAST, CLIP_FAST[1:]) if k == "--set"])))
    ctx = RunContext(cache_dir, tmp_path / "results", device="cpu", log=lambda *a: None)
    data = load_data(P, ctx)

    def fit(state=None):
        m = create_method("clip_tiny_ft")
        log = m.fit(data.seen, data.seen_words, P.recipe, "cpu", state=state)
        return m, log

    whole, log = fit()
    start = create_method("clip_tiny")
    start._build(whole.frames, P.recipe.seed)
    moved = [n for n, p in whole.model.state_dict().items() if not torch.equal(p, start.model.state_dict()[n])]
    assert log["finetune"]["steps"] > 2 and "logit_scale" in moved and any(n.startswith("visual.") for n in moved) \
        and any(n.startswith("transformer.") for n in moved), "both towers and the scale are trained"
    assert not np.allclose(whole.class_vectors(data.seen_words), start.class_vectors(data.seen_words))

    # stopped after two steps (state saved every step), then resumed: the uninterrupted weights
    state_file = tmp_path / "train_state.pt"
    real_step, calls = Trainer.step, []

    def stop_at_third(self, *a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_step(self, *a, **kw)

    monkeypatch.setattr(Trainer, "step", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainState(state_file, every=1))
    monkeypatch.setattr(Trainer, "step", real_step)
    resumed, log = fit(TrainState(state_file, every=1))
    assert log["finetune"]["resumed_at_step"] == 2
    for n, p in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[n], p, msg=n)


@pytest.mark.train
def test_fine_tuned_run_end_to_end(tmp_path, cache_dir):
    run_here("run", "clip_tiny_ft", *CLIP_FAST, "--cache-dir", cache_dir, "--results-dir", tmp_path / "res")
    d = _results(tmp_path / "res")
    assert d["method"]["details"]["finetuned"] and d["training"]["finetune"]["steps"] > 0
    assert d["method"]["config"]["template"] == "person" and len(d["splits"]) == 3
    ckpt = torch.load(d["checkpoint"]["path"], weights_only=True)
    assert ckpt["method"]["model"], "a fine-tuned model is stored"


@pytest.mark.train
def test_tune_chooses_the_template_on_the_seen_classes(tmp_path, cache_dir):
    overlay = tmp_path / "overlay.toml"
    run_here("tune", "clip_tiny", *CLIP_FAST, "--trials", "2", "--seed", "0", "--storage", f"sqlite:///{tmp_path / 's.db'}",
             "--out", overlay, "--cache-dir", cache_dir, "--results-dir", tmp_path / "res")
    import tomllib
    assert tomllib.loads(overlay.read_text())["method"]["template"] in ("name", "person", "ensemble")
