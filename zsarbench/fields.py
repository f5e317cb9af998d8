"""Declared types and valid values of settings: the one check that protocol fields (protocol.py,
`_build`) and method options (methods/base.py, `check_options`) go through.

A setting declares its type, and where not every value of the type is valid, its range or its
choices, with `typing.Annotated`:

    stride: Annotated[int, Range(1)] = 6                     # an integer >= 1
    mlm_prob: Annotated[float, Range(0, 1, lo_open=True)]    # a number in (0, 1]
    solver: Annotated[str, OneOf("mip", "exact")]
    theta: list[Annotated[float, Range(0, 1)]]               # each element in [0, 1]

`check_value` gives a one-line UserError naming the setting, the value and what is valid.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from .errors import UserError


@dataclass(frozen=True)
class Range:
    """lo <= value <= hi (None: unbounded); lo_open / hi_open make that end strict."""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, v) -> bool:
        return ((self.lo is None or (v > self.lo if self.lo_open else v >= self.lo))
                and (self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)))

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {self.hi}"
        return f"in {'(' if self.lo_open else '['}{self.lo}, {self.hi}{')' if self.hi_open else ']'}"


@dataclass(frozen=True)
class OneOf:
    choices: tuple

    def __init__(self, *choices):
        object.__setattr__(self, "choices", tuple(choices))

    def __contains__(self, v) -> bool:
        return v in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def check_value(value, tp, where: str):
    """`value` as type `tp` (an int is a valid float and becomes one; a bool is no number), else a
    one-line UserError '<where> must be ..., got <value>'. Annotated Range / OneOf are checked."""
    constraint = None
    if typing.get_origin(tp) is typing.Annotated:
        tp, *extras = typing.get_args(tp)
        constraint = next((e for e in extras if isinstance(e, (Range, OneOf))), None)
    if typing.get_origin(tp) is list:
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {value!r}")
        out = [check_value(v, typing.get_args(tp)[0], where) for v in value]
        if isinstance(constraint, Range) and len(out) not in constraint:
            need = (f"at least {constraint.lo} value{'s' * (constraint.lo != 1)}"
                    if constraint.hi is None and not constraint.lo_open else f"a number of values {constraint}")
            raise UserError(f"{where} must hold {need}, got {value!r}")
        return out
    given = value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, tp) or (tp in (int, float) and isinstance(value, bool)):
        raise UserError(f"{where} must be {NAMES.get(tp, tp.__name__)}, got {given!r}")
    if constraint is not None and value not in constraint:
        what = NAMES.get(tp, tp.__name__) + " " if isinstance(constraint, Range) else ""
        raise UserError(f"{where} must be {what}{constraint}, got {given!r}")
    return value
