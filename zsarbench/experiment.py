"""One resolved experiment: the single object `run`, `ablate`, `tune` and `smoke` take, built once from
the command line (cli/common.load_experiments) or a protocol file, and recorded as it is in the results.

    Experiment(method, protocol, overrides)

- `protocol`: the protocol with the user's changes merged in, method options included (its `method`
  table: a tuned overlay's, then --set method.* over it), and every placeholder resolved (`resolve`);
- `overrides`: those changes as the user gave them (--set, --seed, --solver, --embedding), one nested
  dict: the results' `overrides`, next to the resolved `protocol`.

Device, output folders and data roots are the run context's (context.RunContext): where it runs, not
what it measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .protocol import Protocol, load_protocol


def resolve(method_name: str, P: Protocol) -> Protocol:
    """The one home of the protocol's placeholders: recipe.frames = 0 ("the method's own") becomes
    the method's number. Creating the method also checks its options (an unknown name or a bad value
    fails here, before any data is read). Idempotent: a resolved protocol comes back unchanged."""
    from .registry import create_method

    method = create_method(method_name, **P.method)
    if P.recipe.frames == 0 and getattr(method, "frames", 0):
        P = replace(P, recipe=replace(P.recipe, frames=method.frames))
    return P


@dataclass(frozen=True)
class Experiment:
    method: str                 # a registered method name
    protocol: Protocol          # resolved (see the module docstring)
    overrides: dict = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.protocol.recipe.seed


def experiment(method: str, protocol: str | Protocol, overrides: dict | None = None) -> Experiment:
    """The experiment of a method on a protocol (a name, a .toml path or a loaded Protocol) with the
    user's overrides (protocol.experiment_overrides), resolved."""
    from .registry import create_method

    overrides = overrides or {}
    create_method(method, **(overrides.get("method") or {}))   # an unknown method or option: said first
    P = load_protocol(protocol, overrides) if isinstance(protocol, str) else protocol
    return Experiment(method, resolve(method, P), overrides)
