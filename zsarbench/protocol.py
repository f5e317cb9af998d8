"""Protocols: declarative TOML files in protocols/ that fix data, splits, recipe and inference.

A file may `include` others (a path or a list, relative to the including file); later values
override earlier ones, table by table. Every field has a type checked on load, unknown fields are
errors, and `--set section.key=value` overrides any field (recorded in the results).
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError, did_you_mean

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "protocols"


@dataclass
class Source:
    dataset: str
    remove_overlap_with: list[str] = field(default_factory=list)
    tau: float = 0.05                     # cosine distance below which a source class is removed
    subset_name: str = ""                 # e.g. K664; informative only
    subsets: list[str] = field(default_factory=list)  # official subsets to train on (Kinetics "train"); empty: all


@dataclass
class Target:
    dataset: str
    split: str = "0/50"                   # "0/50" (half the classes unseen) or "0/100" (all)
    n_splits: int = 10
    subsets: list[str] = field(default_factory=list)  # official subsets to test on; empty: every labelled video


@dataclass
class Recipe:
    """Training and test-time sampling. Defaults are the paper's (ResT, Sec. 4.1)."""
    frames: int = 0                       # 0: the method's own (ResT_18 16, ResT_34 8, ResT_101 4)
    stride: int = 6
    resize: int = 0                       # decode at resize x resize; 0: native size
    crop: int = 224
    train_clips: int = 1
    test_clips: int = 25
    batch_size: int = 16
    warmup_epochs: float = 150           # may be fractional: steps = round(epochs * batches per epoch)
    warmup_lr: float = 0.01
    warmup_momentum: float = 0.9
    warmup_weight_decay: float = 1e-4
    joint_epochs: float = 50
    joint_lr: float = 1.5e-4
    joint_weight_decay: float = 0.05
    mtl_weight: float = 0.5
    mlm_prob: float = 0.15
    seed: int = 0
    workers: int = -1                     # data loader workers; -1: automatic
    frame_cache: bool = False             # decode each video once into memory-mapped shards (data/frame_cache.py)
    flip: bool = False                    # random horizontal flip of training clips (p = 0.5)
    checkpoint_every: int = 0             # also save the training state every N steps (always at epoch ends)
    compile: bool = False                 # torch.compile the training steps (GPU; compiling takes minutes)


@dataclass
class Prototypes:
    clips: int = 1                        # clips per source video for seen prototypes
    max_videos_per_class: int = 0         # 0: every training video; a cap keeps 500k-video sources affordable


@dataclass
class Transfer:
    solver: str = "mip"                   # mip (integer program, python-mip) | exact (separable closed form)
    mip_backend: str = "highs"            # highs (through highsbox) | cbc
    cv_folds: int = 5                     # (theta, K, rho) by k-fold CV over the seen classes only
    theta: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.7, 0.9])
    K: list[int] = field(default_factory=lambda: [1, 3, 5, 10])
    rho: list[int] = field(default_factory=lambda: [1, 2, 3, 5])


@dataclass
class Embedding:
    name: str = "word2vec:GoogleNews-vectors-negative300.bin"


@dataclass(frozen=True)
class Synth:
    """The [synth] table: the generated benchmark (data/synth.py renders it, keyed by these fields)."""
    seed: int = 0
    size: int = 40               # frame width = height, pixels (decord 0.6 misreads 48)
    n_frames: int = 32           # frames per video
    fps: int = 16
    source_videos_per_class: int = 60
    target_videos_per_class: int = 10
    n_ucf: int = 20              # classes of the UCF101-like target
    n_hmdb: int = 14             # classes of the HMDB51-like target
    n_shared_targets: int = 4    # classes in both targets
    n_source_overlap: int = 10   # target classes that also occur in the source


@dataclass
class Protocol:
    name: str
    source: Source
    target: Target
    description: str = ""
    embedding: Embedding = field(default_factory=Embedding)
    recipe: Recipe = field(default_factory=Recipe)
    prototypes: Prototypes = field(default_factory=Prototypes)
    transfer: Transfer = field(default_factory=Transfer)
    synth: Synth = field(default_factory=Synth)
    path: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def splits(self, n_classes: int) -> list[list[int]]:
        return make_splits(n_classes, self.target.split, self.target.n_splits)


def make_splits(n_classes: int, split: str, n_splits: int) -> list[list[int]]:
    """Unseen class indices per split. 0/50: split s is the first n//2 entries of a permutation
    from a generator seeded with s (E2E's convention, np.random.RandomState(s)); 0/100: all."""
    if split == "0/100":
        return [list(range(n_classes))]
    if split == "0/50":
        return [sorted(np.random.RandomState(s).permutation(n_classes)[: n_classes // 2].tolist())
                for s in range(n_splits)]
    raise UserError(f"unknown split '{split}'; use \"0/50\" or \"0/100\"")


# ----------------------------------------------------------------------------- loading

def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_toml(path: Path, chain: tuple = ()) -> dict:
    if path in chain:
        raise UserError(f"protocol include cycle: {' -> '.join(p.name for p in (*chain, path))}")
    if not path.is_file():
        raise UserError(f"protocol file {path} not found")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"malformed protocol file {path}: {e}") from None
    includes = data.pop("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise UserError(f"{path}: 'include' must be a file name or a list of file names")
    merged: dict = {}
    for inc in includes:
        merged = deep_merge(merged, _read_toml((path.parent / inc).resolve(), (*chain, path)))
    return deep_merge(merged, data)


def _check(value, tp, where: str):
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {value!r}")
        return [_check(v, typing.get_args(tp)[0], where) for v in value]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise UserError(f"{where} must be {tp.__name__}, got {value!r}")
    return value


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise UserError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise UserError(f"{where}: unknown field '{key}'{did_you_mean(key, names)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, f"{where}.{key}" if where != "protocol" else key)
        else:
            kwargs[key] = _check(value, tp, f"{where}.{key}" if where != "protocol" else key)
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in kwargs]
    if missing:
        raise UserError(f"{where}: missing required field(s) {', '.join(missing)}")
    return cls(**kwargs)


def parse_set(items: list[str]) -> dict:
    """['recipe.joint_epochs=1', ...] -> nested dict; values are TOML literals, else strings."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--set expects section.key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def experiment_overrides(sets: list[str], seed: int | None = None, solver: str | None = None,
                         embedding: str | None = None) -> tuple[dict, dict]:
    """--set / --seed / --solver / --embedding -> (protocol overrides, method options). The seed,
    solver and embedding are protocol fields (recipe.seed, transfer.solver, embedding.name)."""
    overrides = parse_set([*sets, *([f"embedding.name={embedding}"] if embedding else [])])
    method_options = overrides.pop("method", {})
    if seed is not None:
        overrides.setdefault("recipe", {})["seed"] = seed
    if solver is not None:
        overrides.setdefault("transfer", {})["solver"] = solver
    return overrides, method_options


def protocol_files() -> dict[str, Path]:
    """Public protocols: files in protocols/ whose name does not start with '_' (those are includes)."""
    return {p.stem: p for p in sorted(PROTOCOL_DIR.glob("*.toml")) if not p.name.startswith("_")}


def load_protocol(name_or_path: str, overrides: dict | None = None) -> Protocol:
    """By name (a file in protocols/) or by path to a .toml file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        path = path.resolve()
    else:
        files = protocol_files()
        if name_or_path not in files:
            raise UserError(f"unknown protocol '{name_or_path}'{did_you_mean(name_or_path, files)}; "
                            "`zsarbench ls protocols` lists them")
        path = files[name_or_path]
    data = _read_toml(path)
    data.setdefault("name", path.stem)
    if overrides:
        data = deep_merge(data, overrides)
    proto = _build(Protocol, data, "protocol")
    proto.path = str(path)
    _validate(proto)
    return proto


def _validate(p: Protocol) -> None:
    if p.target.split not in ("0/50", "0/100"):
        raise UserError(f"target.split must be \"0/50\" or \"0/100\", got '{p.target.split}'")
    if p.transfer.solver not in ("mip", "exact"):
        raise UserError(f"transfer.solver must be 'mip' or 'exact', got '{p.transfer.solver}'")
    if p.transfer.mip_backend not in ("highs", "cbc"):
        raise UserError(f"transfer.mip_backend must be 'highs' or 'cbc', got '{p.transfer.mip_backend}'")
    r = p.recipe
    for k in ("stride", "crop", "train_clips", "test_clips", "batch_size"):
        if getattr(r, k) < 1:
            raise UserError(f"recipe.{k} must be at least 1, got {getattr(r, k)}")
    if not 0 < r.mlm_prob <= 1:
        raise UserError(f"recipe.mlm_prob must be in (0, 1], got {r.mlm_prob}")
    if p.transfer.cv_folds < 2:
        raise UserError(f"transfer.cv_folds must be at least 2, got {p.transfer.cv_folds}")
