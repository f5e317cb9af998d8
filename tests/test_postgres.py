"""A `zsarbench tune` study shared on a real PostgreSQL server (issue 24): a throw-away cluster
(Debian's postgresql: initdb, pg_ctl) on 127.0.0.1 with a password, two `tune` processes started
together on a fresh database, then a run of the overlay. They create the schema once between them,
draw distinct points, `--show` lists every trial, and the password is in no file and no output.

.ci/run installs the server and the `zsarbench[postgres]` extra and sets ZSARBENCH_REQUIRE_POSTGRES,
so there a missing server fails this test instead of skipping it."""

import glob
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import ROOT, TINY_PROTOCOL, TUNE_FAST, TUNE_SPACE, needs

pytestmark = pytest.mark.train

SPACE, FAST = TUNE_SPACE, TUNE_FAST


def _missing(what: str):
    if os.environ.get("ZSARBENCH_REQUIRE_POSTGRES"):
        pytest.fail(f"{what} (.ci/run installs it)")
    needs(False, what)


def _server_binary(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    if not (initdb and pg_ctl):
        _missing("no PostgreSQL server here (initdb, pg_ctl: Debian's postgresql package)")
    if importlib.util.find_spec("psycopg") is None:
        _missing("no PostgreSQL driver (pip install 'zsarbench[postgres]')")
    import psycopg

    base = Path(tempfile.mkdtemp(prefix="zsarbench-pg-"))
    password, port = "pw-" + secrets.token_hex(12), _free_port()
    as_server = []
    if os.geteuid() == 0:   # initdb refuses to run as root: the cluster belongs to the `postgres` user
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_server = ["runuser", "-u", "postgres", "--"]
    pwfile = base / "pw"
    pwfile.write_text(password)
    if as_server:
        os.chown(pwfile, user.pw_uid, user.pw_gid)

    def server(*args):
        r = subprocess.run([*as_server, *map(str, args)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr

    server(initdb, "-D", base / "data", "-U", "zsar", "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
           "--locale=C")
    pwfile.unlink()
    server(pg_ctl, "-D", base / "data", "-l", base / "server.log", "-w", "-o",
           f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")
    try:
        with psycopg.connect(f"postgresql://zsar:{password}@127.0.0.1:{port}/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE study")
        yield {"url": f"postgresql://zsar:{password}@127.0.0.1:{port}/study", "password": password, "port": port}
    finally:
        subprocess.run([*as_server, pg_ctl, "-D", str(base / "data"), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _zsarbench(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zsarbench.cli", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_tunes_share_one_postgres_study(postgres, tmp_path):
    import optuna

    url, password = postgres["url"], postgres["password"]
    (tmp_path / "space.toml").write_text(SPACE)
    common = ["-p", TINY_PROTOCOL, "--space", tmp_path / "space.toml", *FAST, "--storage", url,
              "--cache-dir", tmp_path / "cache"]
    tune = ["tune", "rest_tiny", *common, "--no-prune", "--trials", "2", "--seed", "0",
            "--results-dir", tmp_path / "res", "--out", tmp_path / "overlay.toml"]
    procs = [_zsarbench(*tune) for _ in range(2)]          # together, on a fresh database and a cold cache
    outs = [p.communicate(timeout=1800) for p in procs]
    said = "".join(o + e for o, e in outs)
    assert [p.returncode for p in procs] == [0, 0] and "Traceback" not in said, said[-4000:]

    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "res").rglob("rest_tiny-tune-*.json"))]
    assert len(records) == 2 and {r["study"]["name"] for r in records} == {records[0]["study"]["name"]}
    assert records[0]["study"]["storage"] == f"postgresql://zsar:***@127.0.0.1:{postgres['port']}/study"
    study = optuna.load_study(study_name=records[0]["study"]["name"], storage=url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(study.trials) == len(done) == 4, [t.state for t in study.trials]
    assert len({json.dumps(t.params, sort_keys=True) for t in done}) == 4, "four distinct points"

    show = _zsarbench("tune", "rest_tiny", *common, "--show")
    out, err = show.communicate(timeout=300)
    assert show.returncode == 0, err
    assert "4 trials" in out and all(f"\n{t.number} " in out or f" {t.number} " in out for t in done)
    assert "postgresql://zsar:***@" in out

    run = _zsarbench("run", "rest_tiny", "-p", tmp_path / "overlay.toml", "--cache-dir", tmp_path / "cache",
                     "--results-dir", tmp_path / "res")
    run_out, run_err = run.communicate(timeout=1800)
    assert run.returncode == 0, run_err[-3000:]

    # the password: in no file the tunes and the run wrote (cache, results, overlay) and in no output
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert not leaked, leaked
    assert password not in said + out + err + run_out + run_err

    # a wrong password: one line, the password it was given not shown either
    bad = _zsarbench("tune", "rest_tiny", *common[:-4], "--storage", url.replace(password, "wrong-" + password[3:]),
                     "--cache-dir", tmp_path / "cache", "--trials", "1", "--out", tmp_path / "o2.toml")
    _, bad_err = bad.communicate(timeout=300)
    lines = [ln for ln in bad_err.splitlines() if ln.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "Traceback" not in bad_err, bad_err
    assert "password authentication failed" in lines[0] and "check the user and password" in lines[0]
    assert password[3:] not in bad_err
