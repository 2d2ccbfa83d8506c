"""Parameter tables, their docs and the shipped parameter files agree.

- docs/<package>.md holds exactly what tools/gen_param_docs.py generates from each node's table;
- every parameter file under config/ belongs to one node (tools/gen_param_docs.NODES) or is
  listed as another driver's; ours name only parameters the node declares, with values of the
  declared type inside its choices and bounds, and only values that differ from the defaults.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import yaml

from robot_common.params import BOOL_ARRAY, DOUBLE_ARRAY, INTEGER_ARRAY, STRING_ARRAY, ParamError, flatten
from tools.gen_param_docs import FOREIGN, NODES, PENDING, ROOT, NodeDoc, by_doc, render, table

CONFIG = ROOT / "config"


def parameter_files() -> list[Path]:
    """Every YAML under config/ whose top-level entries carry ros__parameters."""
    out = []
    for path in sorted(CONFIG.rglob("*.y*ml")):
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and any(isinstance(v, dict) and "ros__parameters" in v for v in doc.values()):
            out.append(path)
    return out


def owners(path: Path) -> list[str]:
    rel = path.relative_to(CONFIG).as_posix()
    nodes = [n.module for n in NODES if any(fnmatch.fnmatch(rel, g) for g in n.configs)]
    others = [g for g in FOREIGN + PENDING if fnmatch.fnmatch(rel, g)]
    return nodes + others


def node_for(path: Path) -> NodeDoc | None:
    rel = path.relative_to(CONFIG).as_posix()
    return next((n for n in NODES if any(fnmatch.fnmatch(rel, g) for g in n.configs)), None)


def type_ok(type_name: str, dynamic: bool, value) -> bool:
    """What rclpy accepts for a parameter of this declared type (an int is no double)."""
    scalar = {"bool": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "double": lambda v: isinstance(v, float),
              "string": lambda v: isinstance(v, str) or (dynamic and not isinstance(v, list | dict))}
    items = {BOOL_ARRAY: "bool", INTEGER_ARRAY: "int", DOUBLE_ARRAY: "double", STRING_ARRAY: "string"}
    if type_name in items:
        return isinstance(value, list) and (dynamic or all(scalar[items[type_name]](v) for v in value))
    return scalar[type_name](value)


@pytest.mark.parametrize("doc", sorted(by_doc()), ids=lambda p: p.name)
def test_docs_hold_the_generated_tables(doc):
    assert render(doc, by_doc()[doc]) == doc.read_text(), \
        f"{doc.relative_to(ROOT)} is out of date: run `python -m tools.gen_param_docs`"


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.module)
def test_every_table_is_documented_and_has_its_files(node):
    params = table(node)
    assert params.summary and all(p.description for p in params), "a summary and a description for every parameter"
    for pattern in node.configs:
        assert list(CONFIG.glob(pattern)), f"{node.module}: config/{pattern} matches no file"


def test_every_parameter_file_has_exactly_one_owner():
    files = parameter_files()
    assert len(files) >= 10
    problems = {p.relative_to(CONFIG).as_posix(): owners(p) for p in files if len(owners(p)) != 1}
    assert not problems, f"map each of these to one node (or driver) in tools/gen_param_docs.py: {problems}"


@pytest.mark.parametrize("path", [p for p in parameter_files() if node_for(p)], ids=lambda p: p.name)
def test_parameter_file_sets_only_declared_parameters_with_valid_non_default_values(path):
    node = node_for(path)
    params = table(node)
    doc = yaml.safe_load(path.read_text())
    assert list(doc) == ["/**"], f"{path.name}: key the parameters by '/**' (a node renamed in launch keeps them)"
    values = doc["/**"]["ros__parameters"] or {}
    assert params.check_overrides(values) == [], f"{path.name}: {params.node} does not declare these"
    for name, value in flatten(values).items():
        p = params[name]
        assert type_ok(p.type_name, p.dynamic_typing, value), f"{path.name}: {name}: {value!r} is not {p.type_name}"
        try:
            p.validate(value)
        except ParamError as exc:
            pytest.fail(f"{path.name}: {exc}")
        if not any(fnmatch.fnmatch(name, k) for k in node.keep):
            assert not (p.has_default and value == p.default), \
                f"{path.name}: {name}: {value!r} is the default; leave it out (defaults live in the table)"


def test_the_checks_catch_bad_files(tmp_path):
    """The checks above can fail: an undeclared name, a wrong type and a repeated default."""
    camera = next(n for n in NODES if n.module == "sensors.camera_node")
    params = table(camera)
    assert params.check_overrides({"camera_name": "x", "fsp": 30.0}) == ["fsp"]
    assert not type_ok(params["fps"].type_name, False, 30)        # an int for a double: rclpy refuses it
    assert type_ok(params["source"].type_name, True, 0)            # dynamic typing: `source: 0` is fine
    with pytest.raises(ParamError, match="jpeg_quality"):
        params["jpeg_quality"].validate(101)
    assert params["width"].default == 640
