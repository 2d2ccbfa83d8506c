"""A model of ROS 2 `launch` / `launch_ros`, to run our launch files where neither is installed.

It is NOT the real library. It offers only the classes and arguments that both Humble (launch 1.0,
launch_ros 0.19) and Jazzy (launch 3.4, launch_ros 0.26) offer, with the same signatures, and
repeats what those releases do with them, as read in their source:
- substitutions are normalized like `normalize_to_list_of_substitutions`: a str or a Substitution,
  or a flat iterable of them; a nested list is a TypeError (PathJoinSubstitution included);
- `ParameterValue.value_type` is one of str, int, float, bool or typing.List[...] of one of them;
  anything else (the builtin `list`) is "ValueError: Unrecognized data type"; typed values are
  coerced with YAML rules, and an untyped substitution in a parameter dict is typed by YAML;
- parameter dicts flatten nested dicts with '.'; parameter files are passed as given;
- `DeclareLaunchArgument`: empty choices and a literal default outside its choices fail when
  built; at run time a missing required argument or a value outside the choices fails;
- `IncludeLaunchDescription` sets every passed argument as a launch configuration of the current
  scope, and fails when an unconditional argument without default is not passed;
- `GroupAction(scoped=True)` scopes launch configurations, the ROS namespace and the environment;
  `SetEnvironmentVariable` sets a variable for the processes that follow in its scope (the real
  library edits os.environ and saves/restores it around scoped groups; the model keeps what the
  launch sets apart, and records it with each process and include);
  `PushRosNamespace` prefixes relative namespaces; node and namespace names are validated by rclpy;
- `Node(name=...)` passes `-r __node:=<name>`, which renames every node the process creates;
- `LaunchConfiguration` fails on a configuration that is not set and has no default; conditions
  accept only true/false/1/0 (any case).
Importing a name the model does not offer is an ImportError, so a launch file cannot use a
construct that one of the two releases lacks. What the model records (processes, includes,
argument declarations and uses) is judged by tests/static/launch_check.py.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SHARE = "/__share__"       # FindPackageShare(pkg) -> SHARE/pkg (launch_check maps it to the source tree)


class SubstitutionFailure(RuntimeError):
    pass


class ModelError(RuntimeError):
    """What the real library would raise, with the real message where it has one."""


# ---- recording ---------------------------------------------------------------------------------

@dataclass
class FileFacts:
    declared: dict = field(default_factory=dict)        # name -> DeclareLaunchArgument
    set_names: set = field(default_factory=set)         # SetLaunchConfiguration names
    performed: set = field(default_factory=set)         # LaunchConfiguration names performed


@dataclass
class Process:
    package: str
    executable: str
    name: str | None
    namespace: str                                      # the node's final namespace
    raw_namespace: str | None                           # what its namespace= said
    parameters: list                                    # Path (a file) or dict name -> value
    untyped: list                                       # parameter names given as bare substitutions
    remappings: list
    arguments: list
    on_exit: object
    where: str                                          # launch file that created the Node
    action: object = None
    environment: dict = field(default_factory=dict)     # variables the launch set for it


@dataclass
class Record:
    processes: list = field(default_factory=list)
    includes: list = field(default_factory=list)        # (package, relative path, {arg: value}, where)
    include_environments: list = field(default_factory=list)   # (path, variables the launch set) per include
    files: dict = field(default_factory=dict)           # launch file -> FileFacts
    handlers: list = field(default_factory=list)        # OnProcessExit handlers
    violations: list = field(default_factory=list)      # rule breaks that real launch lets through
    loading: list = field(default_factory=list)         # stack of launch files being built/run

    def facts(self, path: str | None = None) -> FileFacts:
        path = path or (self.loading[-1] if self.loading else "<none>")
        return self.files.setdefault(path, FileFacts())

    def here(self) -> str:
        return self.loading[-1] if self.loading else "<none>"


RECORD = Record()
LOADER = {"load": None}    # launch_check installs the function that loads a launch file by path


# ---- context -----------------------------------------------------------------------------------

class LaunchContext:
    def __init__(self) -> None:
        self._stack = [{}]
        self._env_stack = [{}]       # what SetEnvironmentVariable set (not the process's os.environ)
        self.locals = types.SimpleNamespace()
        self.is_shutdown = False

    @property
    def launch_configurations(self) -> dict:
        return self._stack[-1]

    @property
    def environment(self) -> dict:
        return self._env_stack[-1]

    def push(self, forwarding: bool = True) -> None:
        self._stack.append(dict(self._stack[-1]) if forwarding else {})
        self._env_stack.append(dict(self._env_stack[-1]) if forwarding else {})

    def pop(self) -> None:
        self._stack.pop()
        self._env_stack.pop()

    def perform_substitution(self, sub) -> str:
        return sub.perform(self)


# ---- substitutions -----------------------------------------------------------------------------

class Substitution:
    def perform(self, context: LaunchContext) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


def normalize(subs) -> list:
    """launch.utilities.normalize_to_list_of_substitutions."""
    def one(x):
        if isinstance(x, Substitution):
            return x
        if isinstance(x, str):
            return TextSubstitution(text=x)
        raise TypeError(f"Failed to normalize given item of type '{type(x)}', when only "
                        "'str' or 'launch.Substitution' were expected.")
    if isinstance(subs, str | Substitution):
        return [one(subs)]
    return [one(x) for x in subs]


def perform(context: LaunchContext, subs) -> str:
    return "".join(s.perform(context) for s in normalize(subs))


class TextSubstitution(Substitution):
    def __init__(self, *, text: str) -> None:
        self.text = text

    def perform(self, context):
        return self.text

    def describe(self):
        return repr(self.text)


class LaunchConfiguration(Substitution):
    def __init__(self, variable_name, *, default=None) -> None:
        self.name = normalize(variable_name)
        self.default = None if default is None else normalize(
            default if isinstance(default, str | Substitution) else [str(d) if not isinstance(d, Substitution) else d
                                                                        for d in default])
        self.where = RECORD.here()

    def perform(self, context):
        name = perform(context, self.name)
        facts = RECORD.facts(self.where)
        facts.performed.add(name)
        if name not in facts.declared and name not in facts.set_names and self.default is None:
            RECORD.violations.append(f"{self.where}: LaunchConfiguration('{name}') is not declared in this file "
                                     "(DeclareLaunchArgument) nor set in it")
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self.default is None:
            raise SubstitutionFailure(f"launch configuration '{name}' does not exist")
        return perform(context, self.default)

    def describe(self):
        return f"LaunchConfig('{''.join(s.describe() for s in self.name)}')"


class PathJoinSubstitution(Substitution):
    def __init__(self, substitutions) -> None:
        self.parts = normalize(substitutions)

    def perform(self, context):
        return os.path.join(*[s.perform(context) for s in self.parts])


class PythonExpression(Substitution):
    def __init__(self, expression) -> None:          # Humble has no python_modules argument
        self.expression = normalize(expression)

    def perform(self, context):
        import math
        return str(eval(perform(context, self.expression), {}, math.__dict__))  # noqa: S307 - what launch does


class EnvironmentVariable(Substitution):
    def __init__(self, name, *, default_value=None) -> None:
        self.name, self.default = normalize(name), default_value

    def perform(self, context):
        name = perform(context, self.name)
        if name in os.environ:
            return os.environ[name]
        if self.default is None:
            raise SubstitutionFailure(f"environment variable '{name}' does not exist")
        return perform(context, self.default)


class FindExecutable(Substitution):
    def __init__(self, *, name) -> None:
        self.name = normalize(name)

    def perform(self, context):
        name = perform(context, self.name)
        found = shutil.which(name)
        if found is None:
            raise SubstitutionFailure(f"executable '{name}' not found on the PATH")
        return found


class Command(Substitution):
    def __init__(self, command, *, on_stderr="fail") -> None:
        self.command, self.on_stderr = normalize(command), on_stderr

    _cache: dict = {}      # the model runs each command once per test session (xacro is slow)

    def perform(self, context):
        text = perform(context, self.command)
        if text in Command._cache:
            return Command._cache[text]
        res = subprocess.run(shlex.split(text), capture_output=True, text=True)
        if res.returncode != 0:
            raise SubstitutionFailure(f"executed command failed. Command: {text}\nCaptured stderr output: {res.stderr}")
        if res.stderr and self.on_stderr == "fail":
            raise SubstitutionFailure(f"executed command showed stderr output. Command: {text}\n{res.stderr}")
        Command._cache[text] = res.stdout
        return res.stdout


class FindPackageShare(Substitution):
    def __init__(self, package) -> None:
        self.package = normalize(package)

    def perform(self, context):
        return f"{SHARE}/{perform(context, self.package)}"


# ---- conditions --------------------------------------------------------------------------------

def _truth(context, expression) -> bool:
    value = perform(context, expression).strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ModelError(f"Unable to evaluate expression '{value}' as true or false; valid: true, false, 1, 0")


class IfCondition:
    def __init__(self, predicate_expression) -> None:
        self.expression = normalize(predicate_expression)

    def evaluate(self, context) -> bool:
        return _truth(context, self.expression)


class UnlessCondition(IfCondition):
    def evaluate(self, context) -> bool:
        return not _truth(context, self.expression)


# ---- parameters ----------------------------------------------------------------------------------

SCALARS = (str, int, float, bool)


def check_value_type(value_type) -> tuple[type, bool] | None:
    """(item type, is list) of a launch_ros value_type, or ValueError as launch raises it."""
    if value_type is None:
        return None
    if value_type in SCALARS:
        return value_type, False
    origin, args = getattr(value_type, "__origin__", None), getattr(value_type, "__args__", ())
    if (value_type is typing.List or origin in (list, typing.List)) and args and args[0] in SCALARS:  # noqa: UP006
        return args[0], True
    raise ValueError(f"Unrecognized data type: {value_type}")


def coerce(text: str, value_type):
    """launch.utilities.type_utils.coerce_to_type for a performed substitution."""
    kind = check_value_type(value_type)
    if kind is None:
        return yaml.safe_load(text) if text else text
    item, is_list = kind
    if is_list:
        out = yaml.safe_load(text) if text else text
        if not isinstance(out, list) or not all(isinstance(x, item) for x in out):
            raise ValueError(f"Cannot convert value '{text}' to a list of '{item}'")
        return out
    if item is str:
        return text
    if item in (int, float):
        return item(text)
    out = yaml.safe_load({"1": "true", "0": "false"}.get(text, text))
    if not isinstance(out, bool):
        raise ValueError(f"Cannot convert value '{text}' to '{item}'")
    return out


class ParameterValue:
    def __init__(self, value, *, value_type=None) -> None:
        check_value_type(value_type)
        self.value, self.value_type = value, value_type

    def evaluate(self, context):
        if isinstance(self.value, SCALARS):
            kind = check_value_type(self.value_type)
            if kind is not None and (kind[1] or not isinstance(self.value, kind[0])):
                raise TypeError(f"value=`{self.value}` is a scalar and not an instance of `{self.value_type}`")
            return self.value
        if isinstance(self.value, list) and not any(isinstance(v, Substitution) for v in self.value) \
                and all(isinstance(v, SCALARS) for v in self.value):
            return list(self.value)
        return coerce(perform(context, self.value), self.value_type)


class ParameterFile:
    def __init__(self, param_file, *, allow_substs=False) -> None:
        self.path = param_file if isinstance(param_file, os.PathLike) else normalize(param_file)
        self.allow_substs = allow_substs

    def evaluate(self, context) -> Path:
        return Path(self.path if isinstance(self.path, os.PathLike) else perform(context, self.path))


def normalize_parameters(parameters) -> list:
    if isinstance(parameters, str) or not isinstance(parameters, Sequence):
        raise TypeError(f"Expecting list of parameters, got {parameters}")
    out = []
    for p in parameters:
        if isinstance(p, Mapping):
            out.append(_normalize_dict(p))
        elif isinstance(p, ParameterFile):
            out.append(p)
        else:
            out.append(ParameterFile(p))
    return out


def _normalize_dict(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for name, value in d.items():
        if not isinstance(name, str):
            raise TypeError(f"parameter names must be strings here, got {name!r}")
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, Mapping):
            out.update(_normalize_dict(value, key))
        elif isinstance(value, ParameterValue | bool | int | float | bytes):
            out[key] = value
        elif isinstance(value, str):
            out[key] = yaml.safe_load(yaml.dump(value))
        elif isinstance(value, Substitution):
            out[key] = ("untyped", normalize(value))
        elif isinstance(value, Sequence):
            if any(isinstance(v, Substitution) for v in value):
                out[key] = ("untyped", normalize(value))
            elif not all(isinstance(v, SCALARS) for v in value):
                raise TypeError(f"Unexpected type for parameter value {value!r}")
            else:
                out[key] = list(value)
        else:
            raise TypeError(f"Unexpected type for parameter value {value!r}")
    return out


# ---- actions ---------------------------------------------------------------------------------------

class LaunchDescriptionEntity:
    def visit(self, context) -> list:
        return []


class Action(LaunchDescriptionEntity):
    def __init__(self, *, condition=None) -> None:
        self.condition = condition
        self.where = RECORD.here()

    def visit(self, context) -> list:
        if self.condition is not None and not self.condition.evaluate(context):
            return []
        return self.execute(context) or []

    def execute(self, context):
        return []


class LaunchDescription(LaunchDescriptionEntity):
    def __init__(self, initial_entities=None, *, deprecated_reason=None) -> None:
        self.entities = list(initial_entities or [])
        self.where = RECORD.here()

    def add_action(self, action) -> None:
        self.entities.append(action)

    def add_entity(self, entity) -> None:
        self.entities.append(entity)

    def visit(self, context) -> list:
        return list(self.entities)

    def declared_arguments(self) -> list:
        """Top-level DeclareLaunchArgument entities, through groups (what --show-args starts from)."""
        out, stack = [], list(self.entities)
        while stack:
            e = stack.pop(0)
            if isinstance(e, DeclareLaunchArgument):
                out.append(e)
            elif isinstance(e, GroupAction):
                stack[:0] = list(e.actions)
        return out


class DeclareLaunchArgument(Action):
    def __init__(self, name: str, *, default_value=None, description=None, choices=None, **kwargs) -> None:
        super().__init__(**kwargs)
        if choices is not None:
            if len(choices) == 0:
                raise RuntimeError("Provided choices arg is empty. Use None to ignore the choice list.")
            if default_value is not None and not isinstance(default_value, Substitution | list) \
                    and default_value not in choices:
                raise RuntimeError(f'Provided default_value "{default_value}" is not in provided choices "{choices}".')
        self.name = name
        self.default_value = None if default_value is None else normalize(default_value)
        self.description = description or ""
        self.choices = choices
        RECORD.facts().declared[name] = self

    def execute(self, context):
        if self.name not in context.launch_configurations:
            if self.default_value is None:
                raise ModelError(f'Required launch argument "{self.name}" was not provided.')
            context.launch_configurations[self.name] = perform(context, self.default_value)
        value = context.launch_configurations[self.name]
        if self.choices is not None and value not in self.choices:
            raise ModelError(f'Argument "{self.name}" provided value "{value}" is not valid. '
                             f"Valid options are: {self.choices}")


class SetLaunchConfiguration(Action):
    def __init__(self, name, value, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.value = normalize(name), normalize(value)
        if all(isinstance(s, TextSubstitution) for s in self.name):
            RECORD.facts().set_names.add("".join(s.text for s in self.name))

    def execute(self, context):
        context.launch_configurations[perform(context, self.name)] = perform(context, self.value)


class SetEnvironmentVariable(Action):
    def __init__(self, name, value, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.value = normalize(name), normalize(value)

    def execute(self, context):
        context.environment[perform(context, self.name)] = perform(context, self.value)


class LaunchDescriptionSource:
    def __init__(self, launch_file_path) -> None:
        self.path = normalize(launch_file_path)


class PythonLaunchDescriptionSource(LaunchDescriptionSource):
    pass


class AnyLaunchDescriptionSource(LaunchDescriptionSource):
    pass


class IncludeLaunchDescription(Action):
    def __init__(self, launch_description_source, *, launch_arguments=None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(launch_description_source, LaunchDescriptionSource):
            launch_description_source = AnyLaunchDescriptionSource(launch_description_source)
        self.source = launch_description_source
        self.arguments = [] if launch_arguments is None else [(normalize(k), normalize(v)) for k, v in launch_arguments]

    def execute(self, context):
        path = perform(context, self.source.path)
        passed = {perform(context, k): perform(context, v) for k, v in self.arguments}
        RECORD.include_environments.append((path, dict(context.environment)))
        description = LOADER["load"](path, passed, self.where)
        if description is None:           # another package's launch file: recorded, not run
            return []
        for arg in description.declared_arguments():
            if arg.default_value is None and arg.condition is None and arg.name not in passed:
                raise ModelError(f"Included launch description missing required argument '{arg.name}' "
                                 f"(description: '{arg.description}'), given: [{', '.join(passed)}]")
        context.launch_configurations.update(passed)
        return [_Enter(description.where), description, _Leave()]


class _Enter(LaunchDescriptionEntity):
    def __init__(self, path: str) -> None:
        self.path = path

    def visit(self, context):
        RECORD.loading.append(self.path)
        return []


class _Leave(LaunchDescriptionEntity):
    def visit(self, context):
        RECORD.loading.pop()
        return []


class _PopScope(LaunchDescriptionEntity):
    def visit(self, context):
        context.pop()
        return []


class GroupAction(Action):
    def __init__(self, actions, *, scoped=True, forwarding=True, launch_configurations=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.actions, self.scoped, self.forwarding = list(actions), scoped, forwarding
        self.configs = {k: normalize(v) for k, v in (launch_configurations or {}).items()}

    def execute(self, context):
        if not self.scoped:
            return [SetLaunchConfiguration(k, v) for k, v in self.configs.items()] + self.actions
        values = {k: perform(context, v) for k, v in self.configs.items()}
        context.push(self.forwarding)
        context.launch_configurations.update(values)
        return [*self.actions, _PopScope()]


class OpaqueFunction(Action):
    def __init__(self, *, function, args=None, kwargs=None, **left_over_kwargs) -> None:
        super().__init__(**left_over_kwargs)
        if not callable(function):
            raise TypeError("OpaqueFunction needs a callable")
        self.function, self.args, self.kwargs = function, list(args or []), dict(kwargs or {})

    def execute(self, context):
        RECORD.loading.append(self.where)
        try:
            out = self.function(context, *self.args, **self.kwargs)
        finally:
            RECORD.loading.pop()
        return [_Enter(self.where), *(out or []), _Leave()]


class LogInfo(Action):
    def __init__(self, *, msg, **kwargs) -> None:
        super().__init__(**kwargs)
        self.msg = normalize(msg)

    def execute(self, context):
        perform(context, self.msg)


class EmitEvent(Action):
    def __init__(self, *, event, **kwargs) -> None:
        super().__init__(**kwargs)
        self.event = event


class ShutdownEvent:
    def __init__(self, *, reason="reason not given", due_to_sigint=False) -> None:
        self.reason = reason


class Shutdown(EmitEvent):
    def __init__(self, *, reason="reason not given", **kwargs) -> None:
        super().__init__(event=ShutdownEvent(reason=reason), **kwargs)


class TimerAction(Action):
    def __init__(self, *, period, actions, cancel_on_shutdown=True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.actions = list(actions)

    def execute(self, context):
        return self.actions


class OnProcessExit:
    def __init__(self, *, target_action=None, on_exit, **kwargs) -> None:
        self.target, self.on_exit = target_action, on_exit


class RegisterEventHandler(Action):
    def __init__(self, event_handler, **kwargs) -> None:
        super().__init__(**kwargs)
        self.handler = event_handler

    def execute(self, context):
        RECORD.handlers.append(self.handler)


_PROCESS_KWARGS = {"shell", "sigterm_timeout", "sigkill_timeout", "emulate_tty", "output", "output_format",
                   "cached_output", "log_cmd", "on_exit", "respawn", "respawn_delay", "prefix", "cwd", "env",
                   "additional_env", "condition"}   # ExecuteProcess/ExecuteLocal/Action, in both releases


class ExecuteProcess(Action):
    def __init__(self, *, cmd, name=None, **kwargs) -> None:
        unknown = set(kwargs) - _PROCESS_KWARGS
        if unknown:
            raise TypeError(f"ExecuteProcess got unexpected keyword argument(s) {sorted(unknown)}")
        super().__init__(condition=kwargs.pop("condition", None))
        self.cmd, self.on_exit = [normalize(c) for c in cmd], kwargs.get("on_exit")


def _namespace(base: str | None, ns: str | None) -> str | None:
    """launch_ros prefix_namespace + make_namespace_absolute."""
    if base is None and ns is None:
        return None
    if ns is None:
        out = base
    elif not base or ns.startswith("/"):
        out = ns
    else:
        out = ("" if base == "/" else base) + "/" + ns
    out = out.rstrip("/") if out not in ("/",) else out
    return out if out.startswith("/") else "/" + out


class Node(Action):
    def __init__(self, *, executable, package=None, name=None, namespace=None, exec_name=None, parameters=None,
                 remappings=None, ros_arguments=None, arguments=None, **kwargs) -> None:
        unknown = set(kwargs) - _PROCESS_KWARGS
        if unknown:
            raise TypeError(f"Node got unexpected keyword argument(s) {sorted(unknown)}")
        super().__init__(condition=kwargs.get("condition"))
        if parameters is not None and not isinstance(parameters, list):
            raise TypeError("'parameters' of Node must be a list")
        self.package, self.executable = normalize(package) if package else None, normalize(executable)
        self.name = None if name is None else normalize(name)
        self.namespace = None if namespace is None else normalize(namespace)
        self.parameters = normalize_parameters(parameters or [])
        self.remappings = [(normalize(a), normalize(b)) for a, b in (remappings or [])]
        self.arguments = [normalize(a) for a in (arguments or [])] + [normalize(a) for a in (ros_arguments or [])]
        self.on_exit = kwargs.get("on_exit")

    def execute(self, context):
        from rclpy.validate_namespace import validate_namespace
        from rclpy.validate_node_name import validate_node_name

        name = None if self.name is None else perform(context, self.name)
        if name is not None:
            validate_node_name(name)
        raw_ns = None if self.namespace is None else perform(context, self.namespace)
        ns = _namespace(context.launch_configurations.get("ros_namespace"), raw_ns)
        if ns is not None:
            validate_namespace(ns)
        params, untyped = [], []
        for p in self.parameters:
            if isinstance(p, ParameterFile):
                params.append(p.evaluate(context))
                continue
            values = {}
            for key, value in p.items():
                if isinstance(value, ParameterValue):
                    values[key] = value.evaluate(context)
                elif isinstance(value, tuple) and value and value[0] == "untyped":
                    text = perform(context, value[1])
                    values[key] = yaml.safe_load(text) if text else ""
                    untyped.append(key)
                else:
                    values[key] = value
            params.append(values)
        RECORD.processes.append(Process(
            package=perform(context, self.package) if self.package else "",
            executable=perform(context, self.executable), name=name, namespace=ns or "/", raw_namespace=raw_ns,
            parameters=params, untyped=untyped,
            remappings=[(perform(context, a), perform(context, b)) for a, b in self.remappings],
            arguments=[perform(context, a) for a in self.arguments], on_exit=self.on_exit, where=self.where,
            action=self, environment=dict(context.environment)))


class PushRosNamespace(Action):
    def __init__(self, namespace, **kwargs) -> None:
        super().__init__(**kwargs)
        self.namespace = normalize(namespace)

    def execute(self, context):
        from rclpy.validate_namespace import validate_namespace

        ns = _namespace(context.launch_configurations.get("ros_namespace"), perform(context, self.namespace))
        validate_namespace(ns)
        context.launch_configurations["ros_namespace"] = ns


def run(description: LaunchDescription, context: LaunchContext) -> None:
    """Visit entities depth first, in order, as the launch service does."""
    queue: list = [description]
    while queue:
        entity = queue.pop(0)
        queue[:0] = entity.visit(context)


# ---- the importable modules -----------------------------------------------------------------------

MODULES = {
    "launch": dict(LaunchDescription=LaunchDescription, LaunchContext=LaunchContext, Action=Action,
                   Substitution=Substitution, LaunchDescriptionEntity=LaunchDescriptionEntity),
    "launch.actions": dict(DeclareLaunchArgument=DeclareLaunchArgument, IncludeLaunchDescription=IncludeLaunchDescription,
                           GroupAction=GroupAction, OpaqueFunction=OpaqueFunction, LogInfo=LogInfo, EmitEvent=EmitEvent,
                           Shutdown=Shutdown, SetLaunchConfiguration=SetLaunchConfiguration, TimerAction=TimerAction,
                           RegisterEventHandler=RegisterEventHandler, ExecuteProcess=ExecuteProcess,
                           SetEnvironmentVariable=SetEnvironmentVariable),
    "launch.substitutions": dict(LaunchConfiguration=LaunchConfiguration, PathJoinSubstitution=PathJoinSubstitution,
                                 PythonExpression=PythonExpression, TextSubstitution=TextSubstitution,
                                 EnvironmentVariable=EnvironmentVariable, FindExecutable=FindExecutable,
                                 Command=Command, SubstitutionFailure=SubstitutionFailure),
    "launch.conditions": dict(IfCondition=IfCondition, UnlessCondition=UnlessCondition),
    "launch.launch_description_sources": dict(PythonLaunchDescriptionSource=PythonLaunchDescriptionSource,
                                              AnyLaunchDescriptionSource=AnyLaunchDescriptionSource),
    "launch.events": dict(Shutdown=ShutdownEvent),
    "launch.event_handlers": dict(OnProcessExit=OnProcessExit),
    "launch_ros": {},
    "launch_ros.actions": dict(Node=Node, PushRosNamespace=PushRosNamespace),
    "launch_ros.substitutions": dict(FindPackageShare=FindPackageShare),
    "launch_ros.parameter_descriptions": dict(ParameterValue=ParameterValue, ParameterFile=ParameterFile),
}


class _StrictModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"{self.__name__}.{name} is not in the launch model (tests/static/launch_model.py): "
                          "use a construct that both Humble and Jazzy offer, and model it")


@contextlib.contextmanager
def installed() -> Iterable[None]:
    """The model as `launch` / `launch_ros` in sys.modules (and our modules that import them reloaded)."""
    saved = {k: v for k, v in sys.modules.items() if k == "launch" or k.startswith(("launch.", "launch_ros"))}
    for name in list(saved):
        del sys.modules[name]
    mods = {}
    for name, attrs in MODULES.items():
        mod = _StrictModule(name)
        mod.__dict__.update(attrs)
        mod.__path__ = []          # a package: submodules are found in sys.modules
        mods[name] = mod
        sys.modules[name] = mod
    for name, mod in mods.items():
        if "." in name:
            parent, _, child = name.rpartition(".")
            setattr(mods[parent], child, mod)
    try:
        yield
    finally:
        for name in MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
