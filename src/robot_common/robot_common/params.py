"""One declaration per node parameter: type, default, description and validation, declared on the
node from that table and rendered into the docs from the same table (the role
generate_parameter_library's YAML plays for ros2_controllers).

    PARAMS = ParamTable("teleop_node", [
        Param("robot", "so101", "follower arm: config/robots/<robot>.yaml"),
        Param("rate_hz", 500.0, "leader read and command rate (Hz)", bounds=(1.0, 2000.0)),
        Param("leader.type", "topic", "where joint targets come from", choices=("gello", "so101", "topic")),
        Param("leader.ids", DOUBLE_ARRAY, "servo ids in follower joint order"),   # typed, no default
    ])

    class TeleopNode(Node):
        def __init__(self) -> None:
            super().__init__("teleop_node")
            p = PARAMS.declare(self)          # dict name -> value, validated (ParamError on bad input)

`config/*.yaml` files carry only the values that differ from these defaults; `check_overrides`
finds names in such a file that the node does not declare (rclpy ignores those silently).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Markers for parameters that have a type but no default (rclpy: declared uninitialised).
BOOL_ARRAY, INTEGER_ARRAY, DOUBLE_ARRAY, STRING_ARRAY = "bool[]", "int[]", "double[]", "string[]"
_ARRAY_MARKERS = (BOOL_ARRAY, INTEGER_ARRAY, DOUBLE_ARRAY, STRING_ARRAY)


class ParamError(ValueError):
    """A parameter value the node cannot run with; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    choices: tuple | None = None
    bounds: tuple[float, float] | None = None   # inclusive [low, high] for numbers (and each array item)
    read_only: bool = True
    dynamic_typing: bool = False                # e.g. a string parameter that accepts `-p source:=0`

    @property
    def type_name(self) -> str:
        d = self.default
        if isinstance(d, str) and d in _ARRAY_MARKERS:
            return d
        if isinstance(d, bool):
            return "bool"
        if isinstance(d, int):
            return "int"
        if isinstance(d, float):
            return "double"
        if isinstance(d, str):
            return "string"
        if isinstance(d, list | tuple):
            if d and all(isinstance(v, bool) for v in d):
                return BOOL_ARRAY
            if d and all(isinstance(v, int) and not isinstance(v, bool) for v in d):
                return INTEGER_ARRAY
            if d and all(isinstance(v, int | float) and not isinstance(v, bool) for v in d):
                return DOUBLE_ARRAY
            return STRING_ARRAY
        raise TypeError(f"parameter {self.name}: unsupported default {d!r}")

    @property
    def has_default(self) -> bool:
        return not (isinstance(self.default, str) and self.default in _ARRAY_MARKERS)

    def validate(self, value: Any) -> Any:
        """The value as the node uses it (arrays as lists, strings coerced), or ParamError."""
        if value is None:
            return [] if self.type_name in _ARRAY_MARKERS else None
        if self.type_name == STRING_ARRAY or (self.dynamic_typing and self.type_name == "string"):
            value = [str(v) for v in value] if self.type_name == STRING_ARRAY else str(value)
        elif self.type_name in _ARRAY_MARKERS:
            value = list(value)
        if self.choices is not None:
            items = value if isinstance(value, list) else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                raise ParamError(f"parameter '{self.name}': {bad[0]!r} is not one of {list(self.choices)}")
        if self.bounds is not None:
            lo, hi = self.bounds
            items = value if isinstance(value, list) else [value]
            for v in items:
                if isinstance(v, int | float) and (math.isnan(v) or not lo <= v <= hi):
                    raise ParamError(f"parameter '{self.name}': {v!r} is outside [{lo}, {hi}]")
        return value


class ParamTable:
    """The parameters of one node, in declaration order."""

    def __init__(self, node: str, params: Iterable[Param], summary: str = "") -> None:
        self.node = node
        self.summary = summary
        self.params: tuple[Param, ...] = tuple(params)
        names = [p.name for p in self.params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"{node}: parameters declared twice: {dup}")
        self._by_name = {p.name: p for p in self.params}

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def __iter__(self):
        return iter(self.params)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: (list(p.default) if isinstance(p.default, tuple) else p.default)
                for p in self.params if p.has_default}

    def declare(self, node: Any) -> dict[str, Any]:
        """Declare every parameter on `node` (an rclpy Node) and return the validated values."""
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
        from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
        from rclpy.parameter import Parameter

        types = {BOOL_ARRAY: Parameter.Type.BOOL_ARRAY, INTEGER_ARRAY: Parameter.Type.INTEGER_ARRAY,
                 DOUBLE_ARRAY: Parameter.Type.DOUBLE_ARRAY, STRING_ARRAY: Parameter.Type.STRING_ARRAY}
        out: dict[str, Any] = {}
        for p in self.params:
            desc = ParameterDescriptor(description=p.description, read_only=p.read_only,
                                       dynamic_typing=p.dynamic_typing)
            if p.choices is not None:
                desc.additional_constraints = f"one of {list(p.choices)}"
            if p.bounds is not None and p.type_name == "double":
                desc.floating_point_range = [FloatingPointRange(from_value=float(p.bounds[0]),
                                                                to_value=float(p.bounds[1]))]
            elif p.bounds is not None and p.type_name == "int":
                desc.integer_range = [IntegerRange(from_value=int(p.bounds[0]), to_value=int(p.bounds[1]))]
            default = types[p.default] if not p.has_default else (list(p.default) if isinstance(p.default, tuple)
                                                                   else p.default)
            try:
                value = node.declare_parameter(p.name, default, desc).value
            except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
                reason = exc.args[0] if exc.args else exc   # without rclpy's trailing parameter name
                raise ParamError(f"parameter '{p.name}' ({p.type_name}): {reason}") from None
            out[p.name] = p.validate(value)
        return out

    def check_overrides(self, overrides: Mapping[str, Any]) -> list[str]:
        """Names in a ros__parameters block (nested dicts flattened with '.') this node does not declare."""
        return sorted(set(flatten(overrides)) - set(self._by_name))

    def markdown(self) -> str:
        """The reference table for docs/<package>.md."""
        lines = ["| parameter | type | default | description |", "|---|---|---|---|"]
        for p in self.params:
            default = "(unset)" if not p.has_default else f"`{_yaml_value(p.default)}`"
            extra = []
            if p.choices is not None:
                extra.append("one of " + ", ".join(f"`{c}`" for c in p.choices))
            if p.bounds is not None:
                extra.append(f"in [{p.bounds[0]}, {p.bounds[1]}]")
            text = (p.description + (f" ({'; '.join(extra)})" if extra else "")).replace("|", "\\|")
            text = text.replace("<", "&lt;")   # `<robot>` in a description is text, not an HTML tag
            lines.append(f"| `{p.name}` | {p.type_name} | {default} | {text} |")
        return "\n".join(lines)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'leader': {'type': 'gello'}} -> {'leader.type': 'gello'} (how ROS 2 names nested parameters)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"' if value == "" else value
    if isinstance(value, Sequence):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return repr(value)
