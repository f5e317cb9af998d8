"""Where each dataset lives on this machine. First match wins:

  1. --data-root NAME=PATH on the command line
  2. the environment variable ZSARBENCH_DATA_<NAME> (upper case, other characters -> _)
  3. the user config file, $ZSARBENCH_CONFIG or ~/.config/zsarbench/datasets.toml:
       ucf101 = "/data/ucf101"        # relative paths are relative to the file
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from ..context import user_config_dir
from ..errors import UserError
from ..inputs import read_text


def config_path() -> Path:
    if os.environ.get("ZSARBENCH_CONFIG"):
        return Path(os.environ["ZSARBENCH_CONFIG"]).expanduser()
    return user_config_dir() / "datasets.toml"


def env_var(name: str) -> str:
    return "ZSARBENCH_DATA_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def parse_roots(items) -> dict[str, str]:
    """['ucf101=/data/ucf101', ...] -> {'ucf101': '/data/ucf101'}."""
    out = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"--data-root expects NAME=PATH, got '{item}'")
        out[name.strip()] = path.strip()
    return out


def dataset_root(name: str, cli_roots: dict[str, str] | None = None) -> tuple[Path, str]:
    """(root, where it came from) of dataset `name`; a one-line UserError says how to set it."""
    if cli_roots and name in cli_roots:
        return Path(cli_roots[name]).expanduser(), "--data-root"
    if os.environ.get(env_var(name)):
        return Path(os.environ[env_var(name)]).expanduser(), f"${env_var(name)}"
    cfg = config_path()
    if cfg.is_file():
        try:
            table = tomllib.loads(read_text(cfg, "config file"))
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"malformed config file {cfg}: {e}") from None
        if isinstance(table.get(name), str):
            p = Path(table[name]).expanduser()
            return (p if p.is_absolute() else cfg.parent / p), str(cfg)
    raise UserError(f"no root for dataset '{name}': pass --data-root {name}=PATH, set {env_var(name)}, "
                    f"or add the line `{name} = \"PATH\"` to {cfg}")
