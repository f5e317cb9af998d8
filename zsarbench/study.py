"""The study of `zsarbench tune` in its Optuna storage: opened or created (SQLite under the cache by
default; any RDB URL shared by several processes: PostgreSQL through the `zsarbench[postgres]` extra,
psycopg 3), with heartbeats so a killed trial is failed and its point retried, sampled by a TPE
sampler seeded per trial, and every failure of the database as one line.

Processes that start together on a fresh database create its tables once (a creation that collides
with another's is retried). Each trial's sampler state is seeded from (the study seed, the trial's
number): trial numbers are unique across every process sharing a study, so processes started
together draw distinct points and a resumed study new ones. The storage URL is opened as given and
written or printed nowhere but redacted (redact.py).
"""

from __future__ import annotations

import random
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError
from .redact import redact


def default_storage(cache_dir: Path) -> str:
    path = Path(cache_dir) / "tune" / "studies.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


# A trial whose process was killed stops beating; the next `tune` on the study marks it failed and
# retries its point (RetryHeartbeatStaleTrialCallback), so its checkpoint resumes instead of a new draw.
HEARTBEAT_S, GRACE_S = 30, 120


def rdb_storage(url: str, attempts: int = 6):
    """Optuna's RDBStorage of `url` with heartbeats, so a killed trial is failed and retried. Several
    processes opening a fresh database together race to create its tables (PostgreSQL: a
    UniqueViolation on the catalogue, a duplicate version row): the losers try again, and then find
    the tables made."""
    import optuna
    import sqlalchemy.exc

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)   # heartbeats: stable since 2.8
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)


def _db_reason(e: BaseException) -> str:
    """The database's own words for a failure: the driver's first line (not SQLAlchemy's wrapper)."""
    orig = getattr(e, "orig", None) or e
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip() and not ln.strip().startswith("(Background")]
    return " ".join(lines[:2])[:300] or type(orig).__name__


@contextmanager
def storage_errors(url: str):
    """Every failure of the study's database as one line naming the (redacted) URL and how to fix it."""
    import sqlalchemy.exc

    shown = redact(url)
    try:
        yield
    except sqlalchemy.exc.NoSuchModuleError as e:
        kind = url.split(":", 1)[0]
        hint = " (PostgreSQL is spelled postgresql://)" if kind == "postgres" else ""
        raise UserError(f"--storage {shown}: unknown database kind '{kind}'{hint}: {_db_reason(e)}") from None
    except sqlalchemy.exc.ArgumentError as e:
        raise UserError(f"--storage {shown} is not a database URL ({_db_reason(e)}): give sqlite:///PATH or "
                        "postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE") from None
    except ImportError as e:
        cause = e.__cause__ or e
        extra = " (pip install 'zsarbench[postgres]')" if "postgres" in url else ""
        raise UserError(f"--storage {shown}: the database driver is not installed{extra}: {cause}") from None
    except sqlalchemy.exc.DBAPIError as e:
        why = _db_reason(e)
        low = why.lower()
        if "password authentication failed" in low or "access denied" in low or "authentication" in low:
            fix = "check the user and password"
        elif "file is not a database" in low or "malformed" in low:
            fix = "the SQLite file is damaged: move it away (a new study starts) or give another --storage"
        elif "unable to open database file" in low:
            fix = "the path must name a file (not a folder) in a folder that exists and is writable"
        elif any(w in low for w in ("could not connect", "connection refused", "timeout", "no such host",
                                    "could not translate host", "name or service not known", "connection failed")):
            fix = "is the database server running and reachable from here?"
        else:
            fix = "check the database"
        raise UserError(f"study storage {shown}: {why}; {fix}") from None


def trial_sampler(seed: int):
    """Optuna's TPESampler whose random state is seeded, before each trial, from (the study seed, the
    trial's number). Trial numbers are unique across every process sharing a study, so processes
    started together draw distinct points, a resumed study draws new ones, and each trial's draw is
    reproducible from the study's history."""
    import numpy as np
    import optuna

    class TrialSeededTPE(optuna.samplers.TPESampler):
        def before_trial(self, study, trial):
            state = np.random.SeedSequence([seed, trial.number]).generate_state(2)
            self._rng.rng.seed(int(state[0]))                  # TPE's own draws
            self._random_sampler._rng.rng.seed(int(state[1]))  # its start-up (random) trials
            super().before_trial(study, trial)

    return TrialSeededTPE(seed=seed)


def open_study(name: str, storage: str, seed: int, prune: bool, create: bool = True):
    """The study `name` in `storage`, created or resumed (load_if_exists), sampled by trial_sampler."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2) if prune else optuna.pruners.NopPruner()
    with storage_errors(storage):
        if not create:
            try:
                return optuna.load_study(study_name=name, storage=storage)
            except KeyError:
                raise UserError(f"no study '{name}' in {redact(storage)}; `zsarbench tune` creates it") from None
        return optuna.create_study(study_name=name, storage=rdb_storage(storage), direction="maximize",
                                   load_if_exists=True, pruner=pruner, sampler=trial_sampler(seed))
