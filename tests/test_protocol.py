import pytest

from zsarbench.errors import UserError
from zsarbench.protocol import load_protocol, parse_set, protocol_files


def test_every_shipped_protocol_loads():
    files = protocol_files()
    assert {"synth-ucf-0-50", "synth-ucf-0-100", "synth-hmdb-0-50", "synth-hmdb-0-100"} <= set(files)
    for name in files:
        p = load_protocol(name)
        assert p.name == name and p.source.dataset and p.target.dataset


def test_include_inherits_and_overrides(tmp_path):
    (tmp_path / "_base.toml").write_text('[source]\ndataset = "a"\ntau = 0.1\n[recipe]\nframes = 4\n')
    (tmp_path / "p.toml").write_text('include = "_base.toml"\n[source]\ntau = 0.2\n[target]\ndataset = "b"\n')
    p = load_protocol(str(tmp_path / "p.toml"))
    assert (p.source.dataset, p.source.tau, p.recipe.frames, p.target.dataset) == ("a", 0.2, 4, "b")
    assert p.recipe.stride == 6, "unset fields keep the paper's defaults"


def test_set_overrides_are_typed():
    p = load_protocol("synth-ucf-0-50", parse_set(["recipe.joint_epochs=3", "transfer.K=[1,2]", "embedding.name=x"]))
    assert p.recipe.joint_epochs == 3 and p.transfer.K == [1, 2] and p.embedding.name == "x"


@pytest.mark.parametrize("text, message", [
    ('[source]\ndataset = "a"\n[target]\ndataset = "b"\nsplit = "0/30"\n', "0/50"),
    ('[source]\ndataset = "a"\n[target]\ndataset = "b"\n[recipe]\nfrmes = 3\n', "did you mean 'frames'"),
    ('[source]\ndataset = "a"\n[target]\ndataset = "b"\n[recipe]\nframes = "x"\n', "recipe.frames must be an integer, got 'x'"),
    ('[source]\ndataset = "a"\n', "missing required field(s) target"),
    ('[source\ndataset = "a"\n', "malformed protocol file"),
    ('include = "nope.toml"\n', "not found"),
])
def test_malformed_protocols_say_what_is_wrong(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_protocol(str(f))


def test_include_cycle(tmp_path):
    (tmp_path / "a.toml").write_text('include = "b.toml"\n')
    (tmp_path / "b.toml").write_text('include = "a.toml"\n')
    with pytest.raises(UserError, match="cycle"):
        load_protocol(str(tmp_path / "a.toml"))


def test_unknown_protocol_suggests():
    with pytest.raises(UserError, match="did you mean 'synth-ucf-0-50'"):
        load_protocol("synth-ucf-0-5")


def test_real_protocols_follow_the_paper():
    removal = {"K664": ["ucf101", "hmdb51"], "K605": ["ucf101", "hmdb51", "activitynet"]}
    expect = {  # name: (source dataset, subset name, target)
        **{f"{t}-0-{s}": ("kinetics700", "K664", t) for t in ("ucf101", "hmdb51") for s in (50, 100)},
        **{f"activitynet-0-{s}": ("kinetics700", "K605", "activitynet") for s in (50, 100)},
        **{f"{t}-k605-0-{s}": ("kinetics700", "K605", t) for t in ("ucf101", "hmdb51") for s in (50, 100)},
        **{f"{t}-k{k}-0-50": (f"kinetics{k}", f"K{k} (no overlap removal)", t)
           for t in ("ucf101", "hmdb51") for k in (400, 700)},
    }
    assert set(expect) <= set(protocol_files())
    for name, (source, subset, target) in expect.items():
        p = load_protocol(name)
        assert (p.source.dataset, p.source.subset_name, p.target.dataset) == (source, subset, target), name
        assert p.source.remove_overlap_with == removal.get(subset, []) and p.source.tau == 0.05
        assert p.source.subsets == ["train"] and p.target.subsets == []
        assert (p.target.split, p.target.n_splits) == (("0/50", 10) if name.endswith("-0-50") else ("0/100", 1))
        r = p.recipe
        assert (r.frames, r.stride, r.crop, r.train_clips, r.test_clips, r.batch_size) == (0, 6, 224, 1, 25, 16)
        assert (r.warmup_epochs, r.joint_epochs, r.warmup_lr, r.joint_lr) == (150, 50, 0.01, 1.5e-4)
        assert p.embedding.name.startswith("word2vec:")
