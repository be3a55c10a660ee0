"""model.typed: a value read back from JSON held to its field's declared type."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from model.typed import check_fields, fits


@pytest.mark.parametrize("value,annotation,expected", [
    (3, "int", True), (True, "int", False), (3.0, "int", False),
    (3, "float", True), (2.5, "float", True), (float("inf"), "float", False), (float("nan"), "float", False),
    (False, "float", False), ("1", "float", False),
    (None, "float | None", True), (None, "float", False),
    ([1, 2], "list[int]", True), ((1, 2), "list[int]", True), ([], "list[int]", True), ([1, "a"], "list[int]", False),
    (3, "list[int]", False), ({"a": 1}, "dict", True), ([{"a": 1}], "list[dict]", True), ([1], "list[dict]", False),
])
def test_fits(value, annotation, expected):
    assert fits(value, annotation) is expected


@dataclass
class Example:
    count: int = 0
    best: float | None = None
    names: list[str] = field(default_factory=list)
    anything: object = None

    def __post_init__(self):
        check_fields(self, skip=("anything",))


@pytest.mark.parametrize("given,message", [
    ({"count": "3"}, "count must be a whole number, not '3'"),
    ({"best": "x"}, "best must be a number or null, not 'x'"),
    ({"names": ["a", 1]}, "names must be a list of strings, not \\['a', 1\\]"),
])
def test_a_field_of_another_type_is_named_with_what_it_must_be(given, message):
    with pytest.raises(ValueError, match=message):
        Example(**given)
    Example(count=3, best=None, names=["a"], anything=object())       # the skipped field may be anything
