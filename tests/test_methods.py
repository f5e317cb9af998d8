"""The baselines and ablations (baselines/ plugin package), backbones, forward cost, precomputed
feature inputs and the example plugin: each method trains and evaluates through `zsarbench run`."""

import json
import shutil
import tomllib

import numpy as np
import pytest
import torch
from feature_fixtures import make_fixture
from helpers import ROOT, run_cli, run_here

from zsarbench import create_method, list_methods
from zsarbench.data.datasets import ClipDataset
from zsarbench.data.features import backbone_name, feature_dataset, read_meta
from zsarbench.methods.rest import _Stage
from zsarbench.models.backbones import frame_backbone, sequence_features
from zsarbench.models.rest import MASK_ID
from zsarbench.registry import method_origin

# The tiny protocol cut further: 2 steps per stage, one prototype video per class, 2 splits.
FAST_TINY = ["-p", "tests/protocols/tiny.toml", "--set", "recipe.warmup_epochs=0.2", "--set", "recipe.joint_epochs=0.2",
        "--set", "target.n_splits=2", "--set", "prototypes.max_videos_per_class=1", "--solver", "exact"]
BASELINES = ["e2e_tiny", "twostream_rnn_tiny", "twostream_lstm_tiny", "rest_tiny_cls_only", "rest_tiny_mlm_only",
             "rest_tiny_cross_attn"]


def test_the_paper_methods_are_registered_through_the_plugin_package():
    names = set(list_methods())
    for full in ("rest18", "rest34", "rest101", "e2e_r2plus1d", "twostream_rnn18", "twostream_lstm18",
                 "rest18_cls_only", "rest18_mlm_only", "rest18_cross_attn", *BASELINES):
        assert full in names
    assert method_origin("e2e_r2plus1d") == "zsarbench_baselines.e2e:e2e_r2plus1d"   # an entry point
    assert create_method("e2e_r2plus1d").space == "semantic" and create_method("twostream_lstm18").space == "visual"
    assert create_method("rest18_cls_only").config()["losses"] == "cls"
    assert "losses" not in create_method("rest18").config(), "defaults keep rest18's checkpoint key"


@pytest.mark.train
@pytest.mark.parametrize("method", BASELINES)
def test_every_method_trains_and_evaluates_through_run(method, tmp_path, cache_dir):
    run_here("run", method, *FAST_TINY, "--cache-dir", cache_dir, "--results-dir", tmp_path)
    [path] = tmp_path.glob("tiny/*.json")
    res = json.loads(path.read_text())
    assert res["kind"] == "zsar-run" and res["method"]["name"] == method
    semantic = method.startswith("e2e")
    assert res["method"]["space"] == ("semantic" if semantic else "visual")
    assert res["transfer"]["variant"] == ("label-nn" if semantic else "all")
    words = res["data"]["label_words"]
    assert (words["table"], words["rules"]) == ("glove", {"source": "synth", "target": "synth"})
    assert words["class_names_file"] is None and len(words["digest"]) == 16   # the dataset rules' words, digested
    assert all(("edges" in sp) != semantic for sp in res["splits"]), "transfer only in the visual space"
    assert (res["training"]["train"]["steps"] == 4 if semantic      # one stage of warm-up + joint epochs
            else res["training"]["warmup"]["steps"] == res["training"]["joint"]["steps"] == 2)
    agg = res["aggregate"]
    assert agg["top1"]["n"] == 2 and 0 <= agg["top1"]["mean"] <= agg["top5"]["mean"] <= 100
    cost = res["cost"]
    assert cost["measured"] and cost["gmac_per_clip"] > 0
    assert cost["frames"] == 4 and cost["test_clips"] == 1


def test_forward_cost_matches_the_papers_gflops():
    """Paper Table 4: its "GFLOPs" are multiply-accumulates: ResT_18 at 16 x 224^2 30.8, VGG16 248,
    R(2+1)D (E2E, 16 x 112^2) 40.8."""
    gmac = lambda m, f, c, **o: create_method(m, **o).forward_flops(f, c, 654) / 2e9  # noqa: E731
    assert gmac("rest18", 16, 224) == pytest.approx(30.8, rel=0.03)
    assert gmac("rest18", 16, 224, backbone="vgg16") == pytest.approx(248, rel=0.01)
    assert gmac("e2e_r2plus1d", 16, 112) == pytest.approx(40.8, rel=0.01)


@pytest.mark.parametrize("name", ["vgg16", "mobilenet_v2", "googlenet", "r2plus1d_18"])   # + ResNets (ResT's)
def test_backbones_map_clips_to_feature_sequences(name):
    torch.manual_seed(0)
    net, width = frame_backbone(name)
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():   # train mode: batch statistics (fresh running statistics shrink GoogLeNet's to ~0)
        out = sequence_features(net.train(), x)
    steps = 1 if name == "r2plus1d_18" else 4     # the 3D network keeps ceil(T / 8) time steps
    assert out.shape == (2, steps, width) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1], rtol=1e-3, atol=0), "different clips, different features"


def test_two_stream_visual_side_never_sees_words_and_cross_attention_does():
    torch.manual_seed(0)
    feats, words = torch.randn(3, 4, 512), torch.randint(2, 9, (3, 2))
    for name, sees_words in (("twostream_lstm_tiny", False), ("twostream_rnn_tiny", False),
                             ("rest_tiny", False), ("rest_tiny_cross_attn", True)):
        m = create_method(name)
        m._build(5, [f"w{i}" for i in range(8)], 4, 2)
        net = m.model.eval()
        x_alone, x_words = net(feats)["x"], net(feats, words)["x"]
        assert torch.allclose(x_alone, x_words, atol=1e-5) != sees_words, name
        if name == "rest_tiny_cross_attn":  # the test input [CLS], r, [MASK]
            assert torch.allclose(x_alone, net(feats, torch.full((3, 1), MASK_ID))["x"])


@pytest.mark.parametrize("losses,trained,untrained", [("cls", "cls_head", "mlm_head"), ("mlm", "mlm_head", "cls_head")])
def test_cls_only_and_mlm_only_train_one_head(losses, trained, untrained):
    from zsarbench.protocol import Recipe

    torch.manual_seed(0)
    m = create_method("rest_tiny", losses=losses)
    m._build(5, [f"w{i}" for i in range(8)], 4, 2)
    words = torch.randint(2, 10, (5, 2))
    _, joint_loss = m.step_losses(Recipe(train_clips=1), words, torch.Generator().manual_seed(0),
                                  {"mlm_masked": 0, "mlm_words": 0}, "cpu")
    batch = {"clips": torch.randint(0, 255, (3, 1, 4, 3, 32, 32), dtype=torch.uint8), "label": torch.tensor([0, 3, 4])}
    loss, n = joint_loss(_Stage(m.model, joint=True), batch)
    loss.backward()
    weight = lambda head: (head[-1] if isinstance(head, torch.nn.Sequential) else head).weight  # noqa: E731
    assert weight(getattr(m.model, trained)).grad is not None
    assert weight(getattr(m.model, untrained)).grad is None, f"{losses}-only must not train the {untrained}"


@pytest.mark.parametrize("losses,attention", [("cls+mlm", "rest"), ("cls", "rest"), ("mlm", "rest"), ("cls", "cross")])
def test_joint_stage_trains_exactly_what_its_loss_reaches(losses, attention):
    """DDP needs a gradient for every parameter it syncs: the joint stage's parameters must be exactly
    those its loss reaches (CLS only / MLM only leave a head and the words' or x's path out)."""
    from zsarbench.protocol import Recipe

    torch.manual_seed(0)
    m = create_method("rest_tiny", losses=losses, attention=attention)
    m._build(5, [f"w{i}" for i in range(8)], 4, 2)
    _, joint_loss = m.step_losses(Recipe(train_clips=1), torch.randint(2, 10, (5, 2)),
                                  torch.Generator().manual_seed(0), {"mlm_masked": 0, "mlm_words": 0}, "cpu")
    batch = {"clips": torch.randint(0, 255, (3, 1, 4, 3, 32, 32), dtype=torch.uint8), "label": torch.tensor([0, 3, 4])}
    joint_loss(_Stage(m.model, joint=True), batch)[0].backward()
    left_out = m.not_joint()
    for name, p in m.model.named_parameters():
        if not name.startswith("warmup_head"):
            assert (p.grad is not None) != name.startswith(left_out), name


def test_plugin_methods_are_configured_rest_and_two_stream_shares_rests_init():
    rest18 = create_method("rest18").config()
    assert create_method("rest18_cls_only").config() == {**rest18, "losses": "cls"}
    assert create_method("rest18_mlm_only").config() == {**rest18, "losses": "mlm"}
    assert create_method("rest18_cross_attn").config() == {**rest18, "attention": "cross"}
    assert create_method("twostream_lstm18").config()["init"] == "bert"
    assert "init" not in create_method("twostream_lstm18", init="torch").config(), "older models keep their key"
    std = {}
    for init in ("bert", "torch"):
        m = create_method("twostream_lstm_tiny", init=init)
        m._build(5, [f"w{i}" for i in range(8)], 4, 2)
        std[init] = float(m.model.word_emb.weight[2:].detach().std()), float(m.model.proj.weight.detach().std())
    assert std["bert"] == pytest.approx((0.02, 0.02), rel=0.15) and std["torch"][0] == pytest.approx(1, rel=0.15)
    m = create_method("twostream_rnn_tiny", backbone="precomputed:24x3")   # region features: R tokens a frame
    m._build(5, ["a", "b"], 4, 2)
    assert m.model.warmup_head.in_features == 24 * 4 * 3
    assert m.model.warmup_logits(torch.zeros(2, 12, 24)).shape == (2, 5)


def test_e2e_default_loss_is_e2es_mse_of_the_normalised_output():
    """E2E's network ends in F.normalize and trains with nn.MSELoss to the unit word2vec class vector
    (bbrattoli/ZeroShotVideoClassification network.py, main.py): the default loss ignores the
    output's scale; mse-raw (the default before) does not and keeps the old checkpoint key."""
    import torch.nn.functional as F
    from zsarbench_baselines.e2e import e2e_loss

    from zsarbench.engine.checkpoint import checkpoint_key

    torch.manual_seed(0)
    out, target = torch.randn(6, 10), F.normalize(torch.randn(6, 10), dim=1)
    default = create_method("e2e_r2plus1d").cfg["loss"]
    assert default == "mse-normalised"
    assert torch.allclose(e2e_loss(7.5 * out, target, default), e2e_loss(out, target, default))
    cos = F.cosine_similarity(out, target, dim=1)
    assert torch.allclose(e2e_loss(out, target, default), ((2 - 2 * cos) / 10).mean())
    assert not torch.allclose(e2e_loss(7.5 * out, target, "mse-raw"), e2e_loss(out, target, "mse-raw"))
    assert torch.allclose(e2e_loss(out, target, "mse-raw"), F.mse_loss(out, target))
    old = {"backbone": "r2plus1d_18", "frames": 16, "loss": "mse"}   # the config of the old default
    assert create_method("e2e_r2plus1d", loss="mse-raw").config() == old
    key = lambda m: checkpoint_key(m.name, m.config(), {}, {})
    assert key(create_method("e2e_r2plus1d")) != checkpoint_key("e2e_r2plus1d", old, {}, {})
    assert key(create_method("e2e_r2plus1d", loss="mse-raw")) == checkpoint_key("e2e_r2plus1d", old, {}, {})
    assert create_method("e2e_r2plus1d", loss="cosine").config()["loss"] == "cosine"


@pytest.mark.parametrize("method,options,message", [
    ("twostream_lstm18", {"layers": 0}, "layers must be an integer >= 1, got 0"),
    ("twostream_rnn18", {"dropout": 1.5}, r"dropout must be a number in \[0, 1\), got 1.5"),
    ("twostream_rnn18", {"init": "xavier"}, "init must be one of"),
    ("twostream_rnn18", {"depth": 2}, "unknown option"),
    ("e2e_r2plus1d", {"frames": 0}, "frames must be an integer >= 1, got 0"),
    ("e2e_r2plus1d", {"dim": 2}, "unknown option"),
    ("e2e_r2plus1d", {"loss": "mse"}, "loss must be one of mse-normalised, mse-raw, cosine"),
    ("rest_tiny_cls_only", {"nope": 1}, "method 'rest_tiny_cls_only': unknown option"),
])
def test_bad_method_options_are_one_line_errors(method, options, message):
    from zsarbench.errors import UserError

    with pytest.raises(UserError, match=message):
        create_method(method, **options)


@pytest.mark.train
def test_feature_sequences_dataset_and_rest_on_features(tmp_path, cache_dir):
    """Precomputed region features (paper Appendix E: feature + 7-d box/frame vector) read by the
    features dataset type and learned from by ResT with the precomputed backbone, through `run`."""
    src_classes = ["bouncing circle", "bouncing star", "sliding circle", "sliding square", "spinning star",
                   "spinning square", "shaking circle", "shaking star"]
    tgt_classes = ["bouncing square", "sliding star", "spinning circle", "shaking square"]
    make_fixture(tmp_path / "src", src_classes, 6, seed=0)
    make_fixture(tmp_path / "tgt", tgt_classes, 4, seed=1)
    meta = read_meta(tmp_path / "src")
    assert meta["box_dims"] == 7 and backbone_name(meta) == "precomputed:24x3"
    vs = feature_dataset("features-src", tmp_path / "src")
    assert vs.classes == sorted(src_classes) and len(vs) == 48
    item = ClipDataset(vs, frames=4, stride=2, crop=32, n_clips=2)[0]   # crop: pixels only
    assert item["clips"].shape == (2, 4 * 3, 24) and item["clips"].dtype == torch.float32
    box = item["clips"][0, :, -7:]
    assert torch.all((box[:, :4] >= 0) & (box[:, :4] <= 1)) and torch.allclose(box[:, 4], box[:, 2] - box[:, 0])

    protocol = tmp_path / "features.toml"
    protocol.write_text(f'''include = "{ROOT / 'tests/protocols/tiny.toml'}"
[source]
dataset = "features-src"
remove_overlap_with = []
[target]
dataset = "features-tgt"
n_splits = 2
[recipe]
stride = 2
warmup_epochs = 1
joint_epochs = 2
''')
    run_here("run", "rest_tiny", "-p", protocol, "--set", f"method.backbone={backbone_name(meta)}",
             "--data-root", f"features-src={tmp_path / 'src'}", "--data-root", f"features-tgt={tmp_path / 'tgt'}",
             "--cache-dir", cache_dir, "--results-dir", tmp_path / "results")
    [path] = (tmp_path / "results").glob("*/*.json")
    res = json.loads(path.read_text())
    assert res["method"]["config"]["backbone"] == "precomputed:24x3"
    assert res["data"]["target"]["n_evaluated"] == 16 and res["cost"]["measured"]
    assert res["aggregate"]["top1"]["mean"] > res["aggregate"]["chance_top1"], "the fixture's words transfer"


def test_sentence_embedding_is_offline_and_ranks_related_labels():
    from zsarbench.text.embeddings import load_embedding

    emb = load_embedding("minilm-l6-v2", "/nonexistent")   # weights from the installed package only
    v = emb.class_vectors([["play", "guitar"], ["play", "violin"], ["ride", "horse"]])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert emb.oov(["qwxz"]) == []


@pytest.mark.train
def test_example_plugin_package_is_listed_and_runs_end_to_end(tmp_path, cache_dir):
    """tests/example_plugin laid out in a site folder as an installer lays out its wheel: the package
    and a dist-info whose entry_points.txt comes from the plugin's own pyproject.toml."""
    plugin = ROOT / "tests/example_plugin"
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    shutil.copytree(plugin / "zsar_example_plugin", site / "zsar_example_plugin")
    info = site / f"zsar_example_plugin-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in project["entry-points"].items()))
    env = {"PYTHONPATH": str(site)}
    r = run_cli("ls", "methods", env=env)
    assert r.returncode == 0 and "framemean_tiny" in r.stdout and "zsar_example_plugin:framemean_tiny" in r.stdout
    r = run_cli("run", "framemean_tiny", *FAST_TINY, "--cache-dir", str(cache_dir), "--results-dir", str(tmp_path / "res"),
                env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    [path] = (tmp_path / "res").glob("tiny/*.json")
    res = json.loads(path.read_text())
    assert res["method"]["origin"] == "zsar_example_plugin:framemean_tiny" and res["transfer"]["variant"] == "all"
    assert len(res["splits"]) == 2 and res["training"]["train"]["steps"] == 2


@pytest.mark.train
@pytest.mark.slow  # three tiny trainings, one with R(2+1)D: about two minutes on 2 cores
def test_pretrained_frame_encoder_frozen_or_trained_end_to_end(tmp_path, cache_dir):
    """Table 6: ResT's F starts from the E2E baseline's R(2+1)D (trained on the same seen classes).
    Frozen, F stays exactly that network (BatchNorm statistics included) and only the warm-up is
    skipped; end-to-end, F moves on from it. The checkpoint key follows the pretrained file's content."""
    from zsarbench.engine.checkpoint import load_checkpoint
    from zsarbench.errors import UserError
    from zsarbench.methods.rest import load_frame_encoder

    run_here("run", "e2e_tiny", *FAST_TINY, "--cache-dir", cache_dir, "--results-dir", tmp_path / "e2e")
    [path] = (tmp_path / "e2e").glob("tiny/*.json")
    pre_path = json.loads(path.read_text())["checkpoint"]["path"]
    pre = {k: v for k, v in load_checkpoint(pre_path)["method"]["model"].items() if k.startswith("frame_encoder.")}
    keys = set()
    for freeze in (True, False):
        out = tmp_path / f"freeze-{freeze}"
        run_here("run", "rest_tiny", *FAST_TINY, "--set", "method.backbone=r2plus1d_18", "--set", f"method.pretrained={pre_path}",
                 "--set", f"method.freeze={str(freeze).lower()}", "--cache-dir", cache_dir, "--results-dir", out)
        [path] = out.glob("tiny/*.json")
        res = json.loads(path.read_text())
        cfg, training = res["method"]["config"], res["training"]
        assert cfg["pretrained"].startswith("sha256:") and cfg.get("freeze", False) == freeze
        assert training["warmup"]["steps"] == (0 if freeze else 2) and training["joint"]["steps"] == 2
        net = load_checkpoint(res["checkpoint"]["path"])["method"]["model"]
        unchanged = all(torch.equal(net[k], v) for k, v in pre.items())
        assert unchanged == freeze, "frozen: F is the pretrained network; end-to-end: F trains"
        assert 0 <= res["aggregate"]["top1"]["mean"] <= 100
        keys.add(res["checkpoint"]["key"])
    assert len(keys) == 2
    assert "pretrained" not in create_method("rest18").config() and "freeze" not in create_method("rest18").config()
    with pytest.raises(UserError, match="not found"):
        create_method("rest_tiny", pretrained=str(tmp_path / "missing.pt"))
    m = create_method("rest_tiny")   # a ResNet-18 F cannot take R(2+1)D weights
    m._build(5, [f"w{i}" for i in range(8)], 4, 2)
    with pytest.raises(UserError, match="another frame encoder"):
        load_frame_encoder(m.model, pre_path)


@pytest.mark.train
def test_prepare_without_features_stops_at_the_trained_model(tmp_path):
    """`ablate pretrained` needs only the checkpoint its F starts from: prepare(features=False)
    trains (or reuses) the model and extracts no feature; a later full prepare reuses that model.
    A cache of its own, so no other test's model or features are there."""
    from zsarbench.context import RunContext
    from zsarbench.prepare import prepare
    from zsarbench.protocol import load_protocol, parse_set

    P = load_protocol(FAST_TINY[1], parse_set([v for k, v in zip(FAST_TINY, FAST_TINY[1:]) if k == "--set"]))
    ctx = RunContext(tmp_path / "cache", tmp_path / "results", device="cpu", log=lambda *a: None)
    only = prepare("rest_tiny", P, ctx, features=False)
    assert only.ckpt.is_file() and not only.reused
    assert only.seen_feats is None and only.target_feats is None
    assert not (tmp_path / "cache" / "features").exists()
    full = prepare("rest_tiny", P, ctx)
    assert full.reused and full.key == only.key and full.seen_feats is not None and not full.seen_feats.cached
