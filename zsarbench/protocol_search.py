"""Where protocol files come from, and which file a protocol name means.

The search path, in order of precedence:
  1. the shipped protocols, zsarbench/protocols/ (package data: every install has them);
  2. --protocol-path DIR of the command (repeatable; set by the CLI through `use_protocol_path`);
  3. $ZSARBENCH_PROTOCOL_PATH, folders separated by os.pathsep (":" on Linux);
  4. the user's config folder, $XDG_CONFIG_HOME/zsarbench/protocols or ~/.config/zsarbench/protocols.

The first folder that holds NAME.toml wins. The shipped protocols come first on purpose: a shipped name
(synth-ucf-0-50, ucf101-0-50, ...) means the benchmark's protocol everywhere, so a results file under
that name is comparable with everyone's; a user's file of the same name is not used (`zsarbench ls
protocols` lists it as shadowed): give it another name, or pass its path. Files whose name starts
with "_" are includes, found the same way (an `include` names a file beside the including one first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .context import user_config_dir
from .errors import UserError

SHIPPED_DIR = Path(__file__).resolve().parent / "protocols"
PATH_ENV = "ZSARBENCH_PROTOCOL_PATH"

_cli_dirs: tuple[Path, ...] = ()


def use_protocol_path(dirs) -> None:
    """The --protocol-path folders of the command being run (each may hold several, os.pathsep-separated)."""
    global _cli_dirs
    _cli_dirs = tuple(Path(p).expanduser() for d in dirs for p in str(d).split(os.pathsep) if p)


def user_protocol_dir() -> Path:
    return user_config_dir() / "protocols"


def search_path() -> list[tuple[Path, str]]:
    """(folder, where it comes from) in order of precedence. A folder named by --protocol-path or
    $ZSARBENCH_PROTOCOL_PATH must exist (a typo would silently change which protocols exist); the
    config folder may be absent."""
    out = [(SHIPPED_DIR, "shipped")]
    env = [Path(p).expanduser() for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    for dirs, origin in ((_cli_dirs, "--protocol-path"), (env, f"${PATH_ENV}")):
        for d in dirs:
            if not d.is_dir():
                raise UserError(f"{origin} names {d}, which is not a folder: create it or correct the path")
            out.append((d.resolve(), origin))
    if user_protocol_dir().is_dir():
        out.append((user_protocol_dir().resolve(), "config folder"))
    unique: dict[Path, str] = {}
    for d, origin in out:   # a folder named twice counts once, where it first appears
        unique.setdefault(d, origin)
    return list(unique.items())


@dataclass(frozen=True)
class ProtocolFile:
    name: str
    path: Path
    origin: str        # shipped, --protocol-path, $ZSARBENCH_PROTOCOL_PATH, config folder
    folder: int        # its folder's place on the search path, from 1
    shadowed_by: "ProtocolFile | None" = None   # the file of the same name earlier on the search path


def all_protocol_files(includes: bool = False) -> list[ProtocolFile]:
    """Every protocol file on the search path, in precedence order; a file whose name an earlier folder
    already holds carries that winner in `shadowed_by`. `includes`: the "_" files too."""
    winners: dict[str, ProtocolFile] = {}
    out = []
    for i, (folder, origin) in enumerate(search_path(), 1):
        for path in sorted(folder.glob("*.toml")):
            if path.name.startswith("_") and not includes:
                continue
            f = ProtocolFile(path.stem, path, origin, i, winners.get(path.stem))
            winners.setdefault(path.stem, f)
            out.append(f)
    return out


def protocol_files() -> dict[str, Path]:
    """Public protocols (names not starting with "_") -> the file each name means."""
    return {f.name: f.path for f in all_protocol_files() if f.shadowed_by is None}


def find_file(file_name: str) -> Path | None:
    """The first NAME.toml (includes too) on the search path, else None."""
    return next((d / file_name for d, _ in search_path() if (d / file_name).is_file()), None)


def resolve_include(include: str, including: Path) -> Path:
    """An `include` of file `including`: the file beside it, else (a bare file name such as
    "_synth.toml") the first of that name on the search path."""
    beside = (including.parent / include).resolve()
    if beside.is_file() or Path(include).name != include:
        return beside
    return find_file(include) or beside


def by_file_name(path: Path) -> bool:
    """Whether `path` is what its bare file name means on the search path (so an overlay can include
    it by name and survive a reinstall that moves the package)."""
    found = find_file(Path(path).name)
    return found is not None and found.resolve() == Path(path).resolve()
