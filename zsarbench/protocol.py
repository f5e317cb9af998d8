"""Protocols: declarative TOML files that fix data, splits, recipe and inference. The shipped ones
are in zsarbench/protocols/; a name is looked up on the protocol search path (protocol_search.py).

A file may `include` others (a path or a list, relative to the including file; a bare file name not
beside it is looked up on the search path); later values override earlier ones, table by table. Every field has a type checked on load, unknown fields are
errors, and `--set section.key=value` overrides any field (recorded in the results).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np

from .deviations import ACCEPTABLE
from .errors import UserError, did_you_mean
from .fields import OneOf, Range, check_value
from .inputs import read_text
from .protocol_search import find_file, protocol_files, resolve_include

# Every field declares its type and, where not every value of it is valid, its range or choices
# (fields.py: Range, OneOf); `_build` checks both on load, so a bad value is a one-line error
# naming the field, the value and the range. Shorthands:
Count = Annotated[int, Range(1)]          # an integer >= 1
Count0 = Annotated[int, Range(0)]         # an integer >= 0 (0 means something: see the field)
Rate = Annotated[float, Range(0)]         # a number >= 0 (learning rates, weight decays, weights)


@dataclass
class Source:
    dataset: str
    remove_overlap_with: list[str] = field(default_factory=list)
    tau: Annotated[float, Range(0, 2)] = 0.05   # cosine distance below which a source class is removed
    subset_name: str = ""                 # e.g. K664; informative only
    subsets: list[str] = field(default_factory=list)  # official subsets to train on (Kinetics "train"); empty: all


@dataclass
class Target:
    dataset: str
    # 0/50: half the classes unseen, drawn per split; 0/100: all; official: all classes, split s tested
    # on the videos of official subset split_subsets[s]; pinned: split s's unseen classes named in pinned
    split: Annotated[str, OneOf("0/50", "0/100", "official", "pinned")] = "0/50"
    n_splits: Count = 10
    subsets: list[str] = field(default_factory=list)  # official subsets to test on; empty: every labelled video
    split_subsets: list[str] = field(default_factory=list)   # split "official": the test subset of each split
    # split "pinned": split name -> {test = [class names], val = [class names]}; val classes are
    # recorded for tuning and never scored
    pinned: dict = field(default_factory=dict)
    # the classifier's candidate classes per split: the split's unseen classes, or every class of the
    # target as the protocol reads it (0/50: the target's seen half too; pinned: test + val classes)
    candidates: Annotated[str, OneOf("unseen", "all")] = "unseen"


@dataclass
class Recipe:
    """Training and test-time sampling. Defaults are the paper's (ResT, Sec. 4.1)."""
    frames: Count0 = 0                    # 0: the method's own (ResT_18 16, ResT_34 8, ResT_101 4)
    stride: Count = 6
    resize: Count0 = 0                    # decode at resize x resize; 0: native size
    crop: Count = 224
    train_clips: Count = 1
    test_clips: Count = 25
    batch_size: Count = 16
    warmup_epochs: Rate = 150             # may be fractional: steps = round(epochs * batches per epoch); 0: none
    warmup_lr: Rate = 0.01
    warmup_momentum: Annotated[float, Range(0, 1, hi_open=True)] = 0.9
    warmup_weight_decay: Rate = 1e-4
    joint_epochs: Rate = 50
    joint_lr: Rate = 1.5e-4
    joint_weight_decay: Rate = 0.05
    mtl_weight: Rate = 0.5
    mlm_prob: Annotated[float, Range(0, 1, lo_open=True)] = 0.15
    seed: Annotated[int, Range(0, 2**32 - 1)] = 0
    workers: Annotated[int, Range(-1)] = -1   # data loader workers; -1: automatic
    frame_cache: bool = False             # decode each video once into memory-mapped shards (data/frame_cache.py)
    # training clips from a compressed clip store: N fixed clip positions per video, JPEG at `resize`,
    # decoded once (data/clip_store.py; docs/scale.md); 0: clips decoded from the videos
    clip_store: Count0 = 0
    decoder: Annotated[str, OneOf("decord", "torchcodec")] = "decord"   # video decoder (torchcodec: NVDEC on CUDA)
    flip: bool = False                    # random horizontal flip of training clips (p = 0.5)
    checkpoint_every: Count0 = 0          # also save the training state every N steps (always at epoch ends); 0: never
    compile: bool = False                 # torch.compile the training steps (GPU; compiling takes minutes)


@dataclass
class Prototypes:
    clips: Count = 1                      # clips per source video for seen prototypes
    max_videos_per_class: Count0 = 0      # 0: every training video; a cap keeps 500k-video sources affordable


@dataclass
class Transfer:
    solver: Annotated[str, OneOf("mip", "exact")] = "mip"   # integer program (python-mip) | separable closed form
    mip_backend: Annotated[str, OneOf("highs", "cbc")] = "highs"   # highs (through highsbox) | cbc
    cv_folds: Annotated[int, Range(2)] = 5    # (theta, K, rho) by k-fold CV over the seen classes only
    # the CV grid (Range on a list: how many values it holds; on its elements: each value)
    theta: Annotated[list[Annotated[float, Range(0, 1)]], Range(1)] = field(
        default_factory=lambda: [0.0, 0.5, 0.7, 0.9])
    K: Annotated[list[Count], Range(1)] = field(default_factory=lambda: [1, 3, 5, 10])
    rho: Annotated[list[Count], Range(1)] = field(default_factory=lambda: [1, 2, 3, 5])


@dataclass
class Embedding:
    name: str = "word2vec:GoogleNews-vectors-negative300.bin"
    # a class-name file (text/names.py: class name -> words, e.g. LLM-rephrased) in place of the dataset
    # rules for the classes it names; relative to the protocol file that sets it (to the current folder
    # under --set); empty: the rules. Recorded with its digest; part of the checkpoint key via the words
    class_names: str = ""


@dataclass(frozen=True)
class Synth:
    """The [synth] table: the generated benchmark (data/synth.py renders it, keyed by these fields)."""
    seed: Annotated[int, Range(0, 2**32 - 1)] = 0
    size: Annotated[int, Range(16)] = 40    # frame width = height, pixels (decord 0.6 misreads 48)
    n_frames: Count = 32         # frames per video
    fps: Count = 16
    source_videos_per_class: Count = 60
    target_videos_per_class: Count = 10
    n_ucf: Annotated[int, Range(2)] = 20     # classes of the UCF101-like target
    n_hmdb: Annotated[int, Range(2)] = 14    # classes of the HMDB51-like target
    n_shared_targets: Count0 = 4    # classes in both targets
    n_source_overlap: Count0 = 10   # target classes that also occur in the source


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
    # method options (e.g. depth = 6), merged under --set method.* by prepare.train_or_reuse; a tuned
    # overlay (`zsarbench tune`) carries its best point's here. Checked by the method on creation.
    method: dict = field(default_factory=dict)
    # inputs that change what is measured which this protocol means to accept (deviations.py: e.g.
    # "class-overlap" for a protocol without overlap removal); recorded, and marked in the tables
    accept: list[Annotated[str, OneOf(*ACCEPTABLE)]] = field(default_factory=list)
    path: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def splits(self, n_classes: int, classes: list[str] | None = None) -> list[list[int]]:
        """Unseen class indices per split; "pinned" needs the target's class names (`classes`)."""
        T = self.target
        if T.split == "pinned":
            if classes is None:
                raise ValueError("pinned splits need the target's class names")
            index = {c: i for i, c in enumerate(classes)}
            return [sorted(index[c] for c in T.pinned[s]["test"] if c in index) for s in self.pinned_names()]
        if T.split == "official":
            return [list(range(n_classes)) for _ in T.split_subsets]
        return make_splits(n_classes, T.split, T.n_splits)

    def pinned_names(self) -> list[str]:
        """The pinned splits' names, in the order they are scored."""
        return sorted(self.target.pinned)


def make_splits(n_classes: int, split: str, n_splits: int) -> list[list[int]]:
    """Unseen class indices per split. 0/50: split s is the first n//2 entries of a permutation
    from a generator seeded with s (E2E's convention, np.random.RandomState(s)); 0/100: all."""
    if split == "0/100":
        return [list(range(n_classes))]
    if split == "0/50":
        return [sorted(np.random.RandomState(s).permutation(n_classes)[: n_classes // 2].tolist())
                for s in range(n_splits)]
    raise UserError(f"unknown split '{split}'; use \"0/50\", \"0/100\", \"official\" or \"pinned\"")


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
        data = tomllib.loads(read_text(path, "protocol file"))   # UTF-8, with or without a byte-order mark
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"malformed protocol file {path}: {e}") from None
    _anchor_class_names(data, path.parent)
    includes = data.pop("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise UserError(f"{path}: 'include' must be a file name or a list of file names")
    merged: dict = {}
    for inc in includes:
        found = resolve_include(inc, path)
        if not found.is_file():
            raise UserError(f"{path}: include '{inc}' not found (beside it, nor on the protocol search path: "
                            "`zsarbench ls protocols` shows the path)")
        merged = deep_merge(merged, _read_toml(found, (*chain, path)))
    return deep_merge(merged, data)


def _anchor_class_names(data: dict, base: Path) -> None:
    """A relative embedding.class_names is relative to `base` (the file that sets it, or the current folder)."""
    emb = data.get("embedding")
    if isinstance(emb, dict) and isinstance(emb.get("class_names"), str) and emb["class_names"]:
        emb["class_names"] = str((base / Path(emb["class_names"]).expanduser()).resolve())


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise UserError(f"{where} must be a table")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise UserError(f"{where}: unknown field '{key}'{did_you_mean(key, names)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, f"{where}.{key}" if where != "protocol" else key)
        else:
            kwargs[key] = check_value(value, tp, f"{where}.{key}" if where != "protocol" else key)
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
                         embedding: str | None = None) -> dict:
    """--set / --seed / --solver / --embedding -> one nested dict of protocol fields: the seed, solver
    and embedding are recipe.seed, transfer.solver and embedding.name; method options (method.*) go
    into the protocol's `method` table (experiment.py)."""
    overrides = parse_set([*sets, *([f"embedding.name={embedding}"] if embedding else [])])
    if seed is not None:
        overrides.setdefault("recipe", {})["seed"] = seed
    if solver is not None:
        overrides.setdefault("transfer", {})["solver"] = solver
    return overrides


def load_protocol(name_or_path: str, overrides: dict | None = None) -> Protocol:
    """By name (protocol_search: the shipped protocols, then the user's folders) or by path to a .toml
    file (a bare NAME.toml that is not in the current folder: looked up on the search path too)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        found = None if path.exists() or path.name != str(name_or_path) else find_file(path.name)
        path = (found or path).resolve()
    else:
        files = protocol_files()
        if name_or_path not in files:
            raise UserError(f"unknown protocol '{name_or_path}'{did_you_mean(name_or_path, files)}; "
                            "`zsarbench ls protocols` lists them")
        path = files[name_or_path]
    data = _read_toml(path)
    data.setdefault("name", path.stem)
    if overrides:
        over = copy.deepcopy(overrides)
        _anchor_class_names(over, Path.cwd())
        data = deep_merge(data, over)
    proto = _build(Protocol, data, "protocol")
    proto.path = str(path)
    _validate(proto)
    return proto


def protocol_from_dict(data: dict) -> Protocol:
    """A protocol as results record it (`Protocol.to_dict`, e.g. from a bundle), checked as on load."""
    data = {k: v for k, v in data.items() if k not in ("path", "tuned")}
    proto = _build(Protocol, data, "protocol")
    _validate(proto)
    return proto


def _validate(p: Protocol) -> None:
    """What no single field's range says: relations between fields."""
    r = p.recipe
    if r.resize and r.crop > r.resize:
        raise UserError(f"recipe.crop {r.crop} is larger than the frames (recipe.resize {r.resize}): "
                        "lower recipe.crop or raise recipe.resize")
    _validate_target(p.target)


def _validate_target(t: Target) -> None:
    """split_subsets belong to "official", pinned to "pinned"; each fixes n_splits."""
    if (t.split == "official") != bool(t.split_subsets):
        raise UserError('target.split_subsets (one official test subset per split) goes with target.split = '
                        f'"official", got split "{t.split}" and {len(t.split_subsets)} split_subsets')
    if (t.split == "pinned") != bool(t.pinned):
        raise UserError('target.pinned (test and val class names per split) goes with target.split = "pinned", '
                        f'got split "{t.split}" and {len(t.pinned)} pinned splits')
    if t.split == "official":
        if t.n_splits != len(t.split_subsets):
            raise UserError(f"target.n_splits {t.n_splits} must equal the {len(t.split_subsets)} target.split_subsets")
        outside = [s for s in t.split_subsets if t.subsets and s not in t.subsets]
        if outside:
            raise UserError(f"target.split_subsets {', '.join(outside)} not in target.subsets {t.subsets}")
    for name, split in t.pinned.items():
        where = f"target.pinned.{name}"
        if not isinstance(split, dict) or set(split) - {"test", "val"} or "test" not in split:
            raise UserError(f"{where} must be a table with a 'test' list of class names (and optionally 'val')")
        for key, names in split.items():
            if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
                raise UserError(f"{where}.{key} must be a non-empty list of class names")
            if len(set(names)) != len(names):
                raise UserError(f"{where}.{key} names a class twice")
        both = set(split["test"]) & set(split.get("val", []))
        if both:
            raise UserError(f"{where}: classes both test and val: {', '.join(sorted(both)[:5])}")
    if t.split == "pinned" and t.n_splits != len(t.pinned):
        raise UserError(f"target.n_splits {t.n_splits} must equal the {len(t.pinned)} target.pinned splits")


TUNED_MARK = "# zsarbench-tuned: "   # an overlay's line holding its tuning record (JSON), read by `tuned_record`


def tuned_record(path) -> dict | None:
    """The tuning record of an overlay written by `zsarbench tune` (its TUNED_MARK line), else None."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except (OSError, TypeError):
        return None
    line = next((x for x in lines if x.startswith(TUNED_MARK)), None)
    try:
        return json.loads(line[len(TUNED_MARK):]) if line else None
    except json.JSONDecodeError:
        raise UserError(f"{path}: malformed tuning record line '{TUNED_MARK.strip()}'") from None
