import pytest
from helpers import run_cli, run_entry


@pytest.mark.parametrize("args, needle", [
    (["run", "rest19", "-p", "synth-ucf-0-50"], "did you mean 'rest18'"),
    (["run", "rest18", "-p", "synth-ucf-0-5"], "did you mean 'synth-ucf-0-50'"),
    (["run", "rest18", "-p", "ucf101-0-50"], "--embedding glove-6b-50d (runs offline, but is not comparable"),
    (["run", "rest18", "-p", "hmdb51-0-50", "--embedding", "word2vec:/no/GoogleNews.bin"], "word2vec file"),
    (["data", "check", "nosuchdata"], "no root for dataset 'nosuchdata': pass --data-root nosuchdata=PATH"),
    (["data", "check", "ucf101", "--data-root", "ucf101=/no/such/dir"], "/no/such/dir does not exist"),
    (["run", "rest18", "-p", "ucf101-0-50", "--data-root", "ucf101"], "--data-root expects NAME=PATH"),
    (["run", "rest18", "-p", "synth-ucf-0-50", "--set", "recipe.nope=1"], "unknown field 'nope'"),
    (["run", "rest18", "-p", "synth-ucf-0-50", "--set", "method.depthh=2"], "unknown option"),
    (["run", "rest18", "-p", "/no/such/protocol.toml"], "not found"),
    (["validate", "/no/such/file.toml"], "not found"),
    (["show", "protocol", "nope"], "unknown protocol"),
    (["bogus"], "No such command"),
    (["run", "rest18", "-p", "synth-ucf-0-50", "--solver", "simplex"], "Invalid value for '--solver'"),
    (["ablate", "constraints", "-p", "synth-ucf-0-50", "-p", "synth-hmdb-0-5"], "did you mean 'synth-hmdb-0-50'"),
    (["ablate", "constraints", "-m", "rest19"], "did you mean 'rest18'"),
])
def test_bad_input_is_one_line_exit_2(args, needle, capsys):
    code, _, err = run_entry(capsys, *args)   # the console-script entry, in this process
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("args, needle", [
    (["run", "rest19", "-p", "synth-ucf-0-50"], "did you mean 'rest18'"),
    (["run", "rest18", "-p", "synth-ucf-0-50", "--set", "recipe.nope=1"], "unknown field 'nope'"),
    (["bogus"], "No such command"),
])
def test_bad_input_from_a_new_process_is_one_line_exit_2(args, needle):
    """The same as a user meets it: a new interpreter, stderr as it comes out."""
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_malformed_protocol_file_validate(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[source\n")
    r = run_cli("validate", str(f))
    assert r.returncode == 2 and "malformed protocol file" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_ls_show_validate():
    r = run_cli("ls", "methods", "rest*")
    assert r.returncode == 0
    for m in ("rest18", "rest34", "rest101", "rest_tiny"):
        assert m in r.stdout
    r = run_cli("ls", "protocols")
    assert r.returncode == 0 and "synth-ucf-0-50" in r.stdout and "synth-hmdb-0-100" in r.stdout
    r = run_cli("show", "protocol", "synth-hmdb-0-50")
    assert r.returncode == 0 and 'dataset = "synth-hmdb"' in r.stdout and "[recipe]" in r.stdout
    r = run_cli("validate", "zsarbench/protocols/synth-ucf-0-100.toml", "synth-hmdb-0-50")
    assert r.returncode == 0 and r.stdout.startswith("ok:") and r.stdout.count("ok:") == 2
