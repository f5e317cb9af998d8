"""Where protocols come from (zsarbench/protocol_search.py): the shipped ones inside the package, then
--protocol-path, $ZSARBENCH_PROTOCOL_PATH and the config folder; which file a name means; includes by
name; tuned overlays in a user folder."""

import os
from pathlib import Path

import pytest
from helpers import ROOT, run_entry

import zsarbench
from zsarbench import protocol_search
from zsarbench.errors import UserError
from zsarbench.protocol import load_protocol

MINE = 'include = "_synth.toml"\ndescription = "{what}"\n[target]\ndataset = "synth-hmdb"\nsplit = "0/100"\n'


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Three user folders: --protocol-path's, $ZSARBENCH_PROTOCOL_PATH's (two) and the config folder."""
    monkeypatch.setattr(protocol_search, "_cli_dirs", ())   # restored after the test, whatever the CLI set
    out = {k: tmp_path / k for k in ("cli", "env1", "env2", "config/zsarbench/protocols")}
    for d in out.values():
        d.mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(protocol_search.PATH_ENV, f"{out['env1']}:{out['env2']}")
    return out


def test_the_shipped_protocols_are_package_data():
    shipped = protocol_search.SHIPPED_DIR
    assert shipped == Path(zsarbench.__file__).resolve().parent / "protocols"
    assert (shipped / "_synth.toml").is_file() and (shipped / "synth-ucf-0-50.toml").is_file()
    assert not (ROOT / "protocols" / "synth-ucf-0-50.toml").exists(), "one copy of each shipped protocol"
    data = (ROOT / "pyproject.toml").read_text()
    assert '"zsarbench" = ["protocols/*.toml"]' in data


def test_user_folders_add_protocols_and_the_first_folder_wins(folders, capsys):
    for key in ("config/zsarbench/protocols", "env2", "env1"):
        (folders[key] / "mine.toml").write_text(MINE.format(what=key))
    (folders["env2"] / "only-env2.toml").write_text(MINE.format(what="env2 only"))
    assert load_protocol("mine").description == "env1"          # $ZSARBENCH_PROTOCOL_PATH in its order
    assert load_protocol("only-env2").description == "env2 only"
    (folders["cli"] / "mine.toml").write_text(MINE.format(what="cli"))
    protocol_search.use_protocol_path([folders["cli"]])
    p = load_protocol("mine")
    assert p.description == "cli" and p.path == str(folders["cli"] / "mine.toml")
    assert p.target.dataset == "synth-hmdb" and p.source.dataset == "synth-kinetics", "_synth.toml by name"
    assert load_protocol("mine.toml").description == "cli", "NAME.toml not in the current folder: by name"

    code, out, _ = run_entry(capsys, "ls", "protocols", "mine", "--protocol-path", folders["cli"])
    rows = [line for line in out.splitlines() if " mine " in line]
    assert len(rows) == 4 and "2. --protocol-path " in rows[0] and "not used" not in rows[0], out
    assert all("(not used: 2. wins)" in r for r in rows[1:]), out
    assert "3. $ZSARBENCH_PROTOCOL_PATH" in rows[1] and "5. config folder" in rows[3], out
    assert (f"1. shipped {protocol_search.SHIPPED_DIR}; 2. --protocol-path {folders['cli']}; "
            f"3. $ZSARBENCH_PROTOCOL_PATH {folders['env1']}") in out


def test_a_shipped_name_means_the_shipped_protocol(folders, capsys):
    """A user's file named like a shipped protocol is listed, marked unused; the name means the
    benchmark's protocol everywhere, so results under it stay comparable."""
    (folders["config/zsarbench/protocols"] / "synth-ucf-0-50.toml").write_text(MINE.format(what="mine"))
    p = load_protocol("synth-ucf-0-50")
    assert Path(p.path) == protocol_search.SHIPPED_DIR / "synth-ucf-0-50.toml" and p.target.dataset == "synth-ucf"
    code, out, _ = run_entry(capsys, "ls", "protocols", "synth-ucf-0-50")
    assert code == 0 and "1. shipped" in out and "4. config folder (not used: 1. wins)" in out
    code, out, _ = run_entry(capsys, "ls", "protocols", "synth-ucf-0-50", "--names")
    assert out.splitlines() == ["synth-ucf-0-50"]
    # the user's file is still usable by its path
    assert load_protocol(str(folders["config/zsarbench/protocols"] / "synth-ucf-0-50.toml")).description == "mine"


def test_every_command_that_reads_a_protocol_takes_protocol_path(folders, capsys, tmp_path):
    (folders["cli"] / "mine.toml").write_text(MINE.format(what="cli"))
    code, out, err = run_entry(capsys, "validate", "mine", "--protocol-path", folders["cli"])
    assert code == 0 and out.startswith("ok: mine"), err
    code, out, _ = run_entry(capsys, "show", "protocol", "mine", "--protocol-path", folders["cli"])
    assert code == 0 and 'description = "cli"' in out
    from zsarbench.cli import main

    def has_protocol_option(cmd):
        return any("-p" in p.opts or "--protocol" in p.opts for p in cmd.params)

    commands = [c for c in main.commands.values() if not hasattr(c, "commands")]
    commands += [c for g in main.commands.values() if hasattr(g, "commands") for c in g.commands.values()]
    reads = [c for c in commands if has_protocol_option(c) or c.name in ("ls", "show", "validate", "check")]
    assert len(reads) > 10   # run, every ablate NAME, tune, data synth|cache|freeze|check, ls, show, validate
    missing = [c.name for c in reads if not any("--protocol-path" in p.opts for p in c.params)]
    assert not missing, missing


def test_a_missing_user_folder_is_one_line(folders, capsys, tmp_path):
    code, _, err = run_entry(capsys, "ls", "protocols", "--protocol-path", tmp_path / "nope")
    assert code == 2 and f"--protocol-path names {tmp_path / 'nope'}, which is not a folder" in err
    assert len(err.strip().splitlines()) == 1
    protocol_search.use_protocol_path([])
    (tmp_path / "bad.toml").write_text('include = "_nothing.toml"\n')
    with pytest.raises(UserError, match="include '_nothing.toml' not found"):
        load_protocol(str(tmp_path / "bad.toml"))


def test_tuned_overlays_go_to_a_user_folder_and_include_by_name(tmp_path):
    from zsarbench.tune import overlay_path, overlay_text

    P = load_protocol("synth-ucf-0-50")
    path = overlay_path("rest18", P, tmp_path / "cache")
    assert path == tmp_path / "cache" / "tuned" / "rest18--synth-ucf-0-50.toml"
    assert overlay_path("rest18", P, tmp_path / "cache", tmp_path / "o.toml") == tmp_path / "o.toml"
    text = overlay_text(path, P, {}, {}, {"recipe.joint_lr": 1e-4}, "a comment")
    assert 'include = "synth-ucf-0-50.toml"' in text   # survives a reinstall that moves the package
    path.parent.mkdir(parents=True)
    path.write_text(text)
    tuned = load_protocol(str(path))
    assert tuned.name == "synth-ucf-0-50" and tuned.recipe.joint_lr == 1e-4 and tuned.target.dataset == "synth-ucf"
    # a protocol given by path, or shadowed by a file of its name beside the overlay: a relative include
    tiny = load_protocol(str(ROOT / "tests" / "protocols" / "tiny.toml"))
    rel = os.path.relpath(tiny.path, tmp_path / "a" / "b")
    assert f'include = "{rel}"' in overlay_text(tmp_path / "a" / "b" / "o.toml", tiny, {}, {}, {}, "c")
    (path.parent / "synth-ucf-0-50.toml").write_text("")
    assert f'include = "{P.path}"' not in overlay_text(path, P, {}, {}, {}, "c")
    assert 'include = "synth-ucf-0-50.toml"' not in overlay_text(path, P, {}, {}, {}, "c")


def test_a_tuned_overlay_does_not_carry_the_trials_training_seed(tmp_path):
    """Trials trained at --set recipe.seed=100: the overlay's runs train at their own seeds (the
    protocol's, or --seeds), never at the selected trial's, while the other fixed fields stay."""
    from zsarbench.tune import overlay_text

    P = load_protocol("synth-ucf-0-50")
    path = tmp_path / "o.toml"
    path.write_text(overlay_text(path, P, {"recipe": {"seed": 100, "batch_size": 8}}, {}, {"recipe.joint_lr": 1e-4}, "c"))
    tuned = load_protocol(str(path))
    assert tuned.recipe.seed == P.recipe.seed != 100 and tuned.recipe.batch_size == 8 and tuned.recipe.joint_lr == 1e-4
    path.write_text(overlay_text(path, P, {"recipe": {"seed": 100}}, {}, {}, "c"))
    assert load_protocol(str(path)).recipe.seed == P.recipe.seed


def test_the_committed_tuned_overlays_load_from_the_repository():
    """protocols/tuned/ is the repository's folder of reference overlays (`make tune-reference`
    --out), not package data; each includes its shipped protocol by name and keeps its name."""
    overlays = sorted((ROOT / "protocols" / "tuned").glob("*.toml"))
    assert overlays
    for path in overlays:
        name = path.stem.partition("--")[2]
        assert load_protocol(str(path)).name == name and f'include = "{name}.toml"' in path.read_text()
