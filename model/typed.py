"""Values read back from JSON (a checkpoint's config, a run's trainer.json), each held to the type its
field declares, so that a file edited by hand is refused with the field's name rather than failing later."""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple


class Kind(NamedTuple):
    check: Callable[[object], bool]
    said: str               # as an error says it
    plural: str             # in "a list of ..."


KINDS = {
    "int": Kind(lambda v: type(v) is int, "a whole number", "whole numbers"),
    "float": Kind(lambda v: type(v) in (int, float) and math.isfinite(v), "a number", "numbers"),
    "bool": Kind(lambda v: type(v) is bool, "true or false", "booleans"),
    "str": Kind(lambda v: type(v) is str, "a string", "strings"),
    "dict": Kind(lambda v: isinstance(v, dict), "an object", "objects"),
    "None": Kind(lambda v: v is None, "null", "nulls"),
}


def _kinds(annotation: str) -> list[tuple[str, bool]]:
    """"float | None" -> [("float", False), ("None", False)]; "list[int]" -> [("int", True)]."""
    out = []
    for kind in (k.strip() for k in annotation.split("|")):
        listed = kind.startswith("list[") and kind.endswith("]")
        out.append((kind[5:-1] if listed else kind, listed))
    return out


def fits(value, annotation: str) -> bool:
    """Whether a JSON value is of an annotated type: "int", "float | None", "list[int]" (a float is finite,
    an int is no bool)."""
    return any(isinstance(value, (list, tuple)) and all(KINDS[kind].check(v) for v in value) if listed
               else KINDS[kind].check(value) for kind, listed in _kinds(annotation))


def described(annotation: str) -> str:
    return " or ".join(f"a list of {KINDS[kind].plural}" if listed else KINDS[kind].said
                       for kind, listed in _kinds(annotation))


def check_fields(instance, skip: tuple[str, ...] = ()) -> None:
    """Each field of a dataclass (its annotations strings: `from __future__ import annotations`) of its
    type; a ValueError naming the first that is not."""
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if f.name not in skip and not fits(value, f.type):
            raise ValueError(f"{f.name} must be {described(f.type)}, not {value!r}")
