"""The event schema (leaflint/probe/schema.py): every kind round-trips through the events file,
and a record that does what its kind does not declare is caught. The records of real runs are
checked against it in test_probe.py, test_probe_saved.py and test_probe_contract.py."""

from __future__ import annotations

import typing

from leaflint.probe import schema
from leaflint.probe.events import AppendFile, dumps, read_events


def _value(tp):
    """A value of type ``tp`` (the first arm of a union that is not None)."""
    if typing.get_origin(tp) is typing.Union:
        return _value(next(a for a in typing.get_args(tp) if a is not type(None)))
    if hasattr(tp, "__required_keys__"):  # a TypedDict
        return _full(tp)
    base = typing.get_origin(tp) or tp
    return {str: "x", int: 3, bool: True, list: ["a", 1], dict: {"a": 1}}[base]


def _full(cls) -> dict:
    return {name: _value(tp) for name, tp in typing.get_type_hints(cls).items()}


def test_every_kind_round_trips_through_the_events_file(tmp_path):
    out = AppendFile(str(tmp_path), "events-", ".jsonl")
    written = []
    for kind, cls in schema.KINDS.items():
        record = _full(cls)
        record["k"] = kind
        assert schema.check(record) == [], kind
        out.write(dumps(record))
        written.append(record)
    assert read_events(str(tmp_path)) == written


def test_every_kind_name_is_declared():
    names = {v for k, v in vars(schema).items() if k.isupper() and isinstance(v, str)}
    assert names == set(schema.KINDS)


def test_an_undeclared_field_is_caught():
    record = {"k": schema.INPLACE, "file": "/a.py", "line": 3, "codes": ["LL101"], "op": "add_",
              "leafiness": True}
    assert schema.check(record) == ["inplace: undeclared field 'leafiness'"]


def test_a_missing_field_a_wrong_type_and_an_unknown_kind_are_caught():
    assert schema.check({"k": schema.OPT_STEP, "line": 2}) == ["opt_step: missing field 'file'"]
    problems = schema.check({"k": schema.DATA_CUT, "file": "/a.py", "line": "2"})
    assert problems == ["data_cut: field 'line' = '2' is not int"]
    assert schema.check({"k": "inplace_op"}) == ["unknown kind 'inplace_op'"]
    assert schema.check({"line": 1}) == ["unknown kind None"]


def test_nested_locations_are_checked():
    record = {"k": schema.DATA_CUT, "file": "/a.py", "line": 2,
              "backward_at": {"file": "/a.py", "line": 9, "column": 1}}
    assert schema.check(record) == ["data_cut.backward_at: undeclared field 'column'"]
