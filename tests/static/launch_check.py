"""Checks of our launch files on machines without ROS 2 `launch`.

This is a MODEL of `launch` / `launch_ros`, not the library: tests/static/launch_model.py
offers only what both Humble and Jazzy offer and repeats their behaviour as read in their source
(its docstring lists what). Each launch file is run under the model with many argument sets (its
defaults, every choice of every argument, robot x hardware, a namespace, each README command line),
recording the processes, includes and parameters launch would produce, without starting anything.
On top of what the real library rejects (raised while running), this module rejects what it lets
through silently or what our conventions forbid:
- a nested list in PathJoinSubstitution, a ParameterValue value_type that is not a typing form
  (also found statically, in branches no argument set reaches);
- an argument passed to an include that the included file does not declare (launch would set it
  as a configuration nobody reads), or outside its choices; a command-line argument that
  `--show-args` does not list; a required argument an include does not pass;
- a LaunchConfiguration read in a file that neither declares nor sets it; a declared argument
  that no argument set ever reads;
- two nodes with one name in one launch, a `name=` on an executable that creates several nodes
  (`-r __node:=` renames all of them), two nodes of one name in one process;
- a parameter file that does not exist, or whose top-level key matches no node of the process it
  is given to (rcl semantics, checked against rclpy: keys get a leading '/', '*' is one token,
  '**' any number) nor '/**'; a parameter our node does not declare, or of another type; a bare
  substitution as a parameter value (YAML would type it at run time);
- a node of ours that does not end the launch when it exits (on_exit / OnProcessExit + Shutdown);
- absolute names: node names, namespaces, remappings, topic parameters and ROS-name arguments must
  be relative (only /clock and /diagnostics are absolute by convention);
- a literal argument value fixed by a wrapper that its `--show-args` shows differently.
"""
from __future__ import annotations

import ast
import itertools
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import launch_model as lm
from .node_facts import console_scripts, node_facts, our_packages, value_kind

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ABSOLUTE_NAMES = ("/clock", "/diagnostics")     # ROS-wide by convention
# node names of other packages' executables we start (the controller manager also creates one node
# per controller named in its parameters)
EXTERNAL_NODES = {("controller_manager", "ros2_control_node"): ["controller_manager"],
                  ("robot_state_publisher", "robot_state_publisher"): ["robot_state_publisher"]}
PLACEHOLDER = "/tmp/launch_check_value"         # value of a required argument without choices


# ---- the workspace ---------------------------------------------------------------------------------

def declared_dependencies(pkg_dir: Path) -> set[str]:
    root = ET.parse(pkg_dir / "package.xml").getroot()
    tags = ("depend", "exec_depend", "build_depend", "test_depend")
    return {el.text.strip() for t in tags for el in root.findall(t)}


def installed_trees(pkg_dir: Path) -> set[str]:
    """Top-level folders a package's setup.py installs into its share/ (share_tree('config/sim', ...))."""
    out = set()
    for node in ast.walk(ast.parse((pkg_dir / "setup.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "share_tree" and len(node.args) == 2:
            dest = node.args[1]
            if isinstance(dest, ast.Constant):
                out.add(dest.value)
    return out


def share_to_source(pkg: str, parts: list[str]) -> Path:
    """share/<pkg>/launch/x -> launch/<pkg>/x; share/<pkg>/{config,urdf}/... -> {config,urdf}/..."""
    if parts[0] == "launch":
        return ROOT / "launch" / pkg / Path(*parts[1:])
    return ROOT / Path(*parts)


def all_launch_files() -> list[Path]:
    return sorted((ROOT / "launch").glob("*/*.launch.py"))


def owner(path: str | Path) -> str:
    """The package a launch file belongs to (its folder under launch/)."""
    return Path(path).parent.name


def key_matches(key: str, fqn: str) -> bool:
    """rcl's match of a parameter-file node key against a node's fully qualified name: the key gets
    a leading '/', '*' matches one name token, '**' any number of them (checked against rclpy)."""
    def match(ks: list[str], ns: list[str]) -> bool:
        if not ks:
            return not ns
        if ks[0] == "**":
            return any(match(ks[1:], ns[i:]) for i in range(len(ns) + 1))
        return bool(ns) and ks[0] in ("*", ns[0]) and match(ks[1:], ns[1:])
    return match([t for t in key.split("/") if t], [t for t in fqn.split("/") if t])


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, name))
        else:
            out[name] = v
    return out


# ---- running a launch file under the model ------------------------------------------------------------

def resolve(path: str) -> tuple[str | None, Path | None]:
    """(package, source file) of a path launch would see: share/<pkg>/... of ours maps to the tree."""
    if path.startswith(lm.SHARE + "/"):
        pkg, *parts = path[len(lm.SHARE) + 1:].split("/")
        if pkg not in our_packages():
            return pkg, None
        if parts and parts[0] != "launch" and parts[0] not in {t.split("/")[0] for t in installed_trees(SRC / pkg)}:
            return pkg, ROOT / "__not_installed__" / Path(*parts)
        return pkg, share_to_source(pkg, parts)
    return None, Path(path)


def load_file(path: Path) -> lm.LaunchDescription:
    lm.RECORD.loading.append(str(path))
    try:
        namespace = {"__file__": str(path), "__name__": f"launch_file_{abs(hash(str(path)))}"}
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - what launch does
        description = namespace["generate_launch_description"]()
    finally:
        lm.RECORD.loading.pop()
    if not isinstance(description, lm.LaunchDescription):
        raise TypeError(f"{path}: generate_launch_description() returned {type(description).__name__}")
    description.where = str(path)
    return description


def _include(path: str, passed: dict, where: str, top_level: bool = False):
    """The model's loader: our launch files are loaded and their arguments checked; others recorded."""
    rec = lm.RECORD
    pkg, target = resolve(path)
    if target is None:   # another package's launch file
        rec.includes.append((pkg, path, passed, where))
        if owner(where) in our_packages() and pkg not in declared_dependencies(SRC / owner(where)):
            rec.violations.append(f"{where}: includes package '{pkg}', not declared in {owner(where)}/package.xml")
        return None
    if not target.exists():
        rec.violations.append(f"{where}: {path} -> {target} does not exist")
        raise lm.ModelError(f"launch file {path} does not exist")
    rec.includes.append((pkg, path, passed, where))
    description = load_file(target)
    declared = {a.name: a for a in description.declared_arguments()}
    shown = {a.name for a in show_arguments(description)} if top_level else set(declared)
    shown_path = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    name = "the command line" if top_level else f"include of {shown_path}"
    for arg, val in passed.items():
        if arg not in shown:
            rec.violations.append(f"{where}: {name} passes '{arg}', which it does not declare")
        elif arg in declared and declared[arg].choices and val not in declared[arg].choices:
            rec.violations.append(f"{where}: {name} passes {arg}={[val]}, outside its choices {declared[arg].choices}")
    missing = sorted(a for a, d in declared.items() if d.default_value is None and d.condition is None and a not in passed)
    if missing:
        rec.violations.append(f"{where}: {name} does not pass its required argument(s) {missing}")
    return description


def show_arguments(description: lm.LaunchDescription) -> list:
    """What `ros2 launch ... --show-args` lists: declarations through groups and includes (loaded
    without context), the first declaration of a name winning."""
    out, seen, stack = [], set(), list(description.entities)
    while stack:
        e = stack.pop(0)
        if isinstance(e, lm.DeclareLaunchArgument) and e.name not in seen:
            seen.add(e.name)
            out.append(e)
        elif isinstance(e, lm.GroupAction):
            stack[:0] = list(e.actions)
        elif isinstance(e, lm.IncludeLaunchDescription):
            try:
                _, target = resolve(lm.perform(lm.LaunchContext(), e.source.path))
                if target is not None and target.exists():
                    stack[:0] = list(load_file(target).entities)
            except Exception:   # noqa: BLE001 - launch ignores includes it cannot load without context
                pass
    return out


@dataclass
class Evaluation:
    path: Path
    args: dict
    record: lm.Record
    failure: str | None = None         # launch would stop with this
    refused: str | None = None         # our launch code refused the combination, with this message


def evaluate(path: Path, args: dict[str, str]) -> Evaluation:
    """`ros2 launch <path> k:=v ...` under the model."""
    from robot_common.launch_support import LaunchConfigError

    lm.RECORD = rec = lm.Record()
    lm.LOADER["load"] = _include
    ev = Evaluation(Path(path), dict(args), rec)
    rec.loading.append("<command line>")
    try:
        description = _include(str(path), dict(args), "<command line>", top_level=True)
        context = lm.LaunchContext()
        context.launch_configurations.update(args)
        rec.loading.append(str(path))
        lm.run(description, context)
    except LaunchConfigError as e:
        ev.refused = str(e)
    except Exception as e:   # noqa: BLE001 - any exception stops a real launch
        ev.failure = f"{type(e).__name__}: {e}"
    return ev


# ---- rules --------------------------------------------------------------------------------------------

def _ends_launch(on_exit, label: str) -> bool:
    def has_shutdown(entities) -> bool:
        items = entities if isinstance(entities, list | tuple) else [entities]
        return any(isinstance(e, lm.Shutdown) or isinstance(e, lm.EmitEvent) and isinstance(e.event, lm.ShutdownEvent)
                   for e in items)
    if on_exit is None:
        return False
    if callable(on_exit):
        event = type("ProcessExited", (), {"returncode": 2, "process_name": label})()
        return has_shutdown(on_exit(event, lm.LaunchContext()) or [])
    return has_shutdown(on_exit)


def _absolute(text: str) -> bool:
    return text.startswith("/") and not text.startswith(ABSOLUTE_NAMES)


def check_processes(ev: Evaluation) -> list[str]:
    errors, seen = [], {}
    pkgs = our_packages()
    for p in ev.record.processes:
        where = f"{p.where}: node {p.package} {p.executable}"
        facts = node_facts(p.package, p.executable)
        if p.package in pkgs:
            if facts is None:
                errors.append(f"{where}: '{p.package} {p.executable}' is not a console script of {p.package} "
                              f"({sorted(console_scripts(pkgs[p.package]))}) or its module does not exist")
                continue
        elif owner(p.where) in pkgs and p.package not in declared_dependencies(pkgs[owner(p.where)]):
            errors.append(f"{where}: node package '{p.package}' is not declared in {owner(p.where)}/package.xml")
        ns = p.namespace.rstrip("/")
        if p.name is not None:
            if "/" in p.name:
                errors.append(f"{where}: node name '{p.name}' must be a plain relative name")
            if facts and len(facts.names) > 1:
                errors.append(f"{where}: name='{p.name}' renames every node of the process (-r __node:=), and "
                              f"{p.executable} creates {len(facts.names)}: {facts.names}")
            fqns = [f"{ns}/{p.name}"]
        else:
            fqns = [f"{ns}/{n}" for n in (facts.names if facts else EXTERNAL_NODES.get((p.package, p.executable), []))]
            if (p.package, p.executable) == ("controller_manager", "ros2_control_node"):
                fqns += [f"{ns}/{c}" for c in _controllers(p.parameters)]
        if facts and len(set(facts.names)) < len(facts.names):
            errors.append(f"{where}: the process creates two nodes with one name: {facts.names}")
        for fqn in fqns:
            if fqn in seen:
                errors.append(f"{where}: a second node named {fqn} (the first from {seen[fqn]})")
            seen[fqn] = p.where
        if p.raw_namespace and p.raw_namespace.startswith("/"):
            errors.append(f"{where}: namespace '{p.raw_namespace}' is absolute; a relative one composes with namespace:=")
        for src, dst in p.remappings:
            if _absolute(dst):
                errors.append(f"{where}: remapping {src} -> {dst} targets an absolute name")
        for a in p.arguments:
            if _absolute(a) and not Path(a).exists():
                errors.append(f"{where}: argument '{a}' is an absolute ROS name")
        given: dict = {}
        for params in p.parameters:
            if isinstance(params, Path):
                given.update(_check_param_file(params, fqns, where, errors))
            else:
                given.update(params)
        for key in p.untyped:
            errors.append(f"{where}: parameter '{key}' is a bare substitution, typed by YAML at run time: "
                          "wrap it in ParameterValue(..., value_type=...)")
        for key, val in given.items():
            if "topic" in key.split(".")[-1] and isinstance(val, str) and _absolute(val):
                errors.append(f"{where}: parameter {key}={val} is an absolute topic name")
            if facts and facts.params:
                if key not in facts.params:
                    errors.append(f"{where}: parameter '{key}' is not declared by {facts.module.relative_to(ROOT)}")
                elif facts.params[key] not in ("?", value_kind(val)):
                    errors.append(f"{where}: parameter {key}={val!r} is a {value_kind(val)}, the node declares a "
                                  f"{facts.params[key]}")
        if p.package in pkgs:
            handlers = [h.on_exit for h in ev.record.handlers if h.target is p.action]
            if not any(_ends_launch(x, p.executable) for x in [p.on_exit, *handlers]):
                errors.append(f"{where}: exiting does not end the launch (on_exit=... Shutdown, or OnProcessExit)")
    return errors


def _controllers(parameters: list) -> list[str]:
    """Controllers a controller manager loads: entries with a type in its parameter files."""
    out = []
    for params in parameters:
        _, target = resolve(str(params)) if isinstance(params, Path) else (None, None)
        if target is not None and target.exists():
            for key, body in (yaml.safe_load(target.read_text()) or {}).items():
                if key.rstrip("/").endswith("controller_manager") and isinstance(body, dict):
                    out += [k for k, v in (body.get("ros__parameters") or {}).items() if isinstance(v, dict) and "type" in v]
    return out


def _check_param_file(path: Path, fqns: list[str], where: str, errors: list) -> dict:
    pkg, target = resolve(str(path))
    if target is None:
        return {}      # another package's file
    if not target.exists():
        errors.append(f"{where}: parameter file {path} -> {target} does not exist")
        return {}
    try:
        data = yaml.safe_load(target.read_text())
    except yaml.YAMLError as e:
        errors.append(f"{where}: parameter file {target} is not YAML: {e}")
        return {}
    out = {}
    for key, body in (data or {}).items():
        if not isinstance(body, dict) or "ros__parameters" not in body:
            errors.append(f"{where}: {target}: top-level key '{key}' has no ros__parameters")
            continue
        matching = [f for f in fqns if key_matches(str(key), f)]
        if key != "/**" and not matching:
            errors.append(f"{where}: {target}: top-level key '{key}' matches no node of this process "
                          f"({fqns or 'names unknown'}) nor /**: its parameters would be dropped")
            continue
        out.update(flatten(body["ros__parameters"] or {}))
    return out


def check_source(path: Path) -> list[str]:
    """What the model only sees on the branches an argument set reaches, found in the source."""
    errors = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "PathJoinSubstitution" and node.args and isinstance(node.args[0], ast.List | ast.Tuple):
            if any(isinstance(e, ast.List | ast.Tuple) for e in node.args[0].elts):
                errors.append(f"{path}:{node.lineno}: a nested list in PathJoinSubstitution: Jazzy raises "
                              "TypeError: Failed to normalize given item of type '<class 'list'>'")
        if name == "ParameterValue":
            for kw in node.keywords:
                if kw.arg == "value_type" and isinstance(kw.value, ast.Name) and kw.value.id in ("list", "dict", "tuple", "set"):
                    errors.append(f"{path}:{node.lineno}: ParameterValue(value_type={kw.value.id}): launch_ros raises "
                                  f"ValueError: Unrecognized data type: <class '{kw.value.id}'> (use typing.List[str])")
    return errors


def check_show_args(path: Path) -> list[str]:
    """A value this file fixes for an include must be what --show-args shows for it."""
    lm.RECORD = lm.Record()
    lm.LOADER["load"] = _include
    with lm.installed():
        description = load_file(path)
        shown = {a.name: a for a in show_arguments(description)}
        errors, stack = [], list(description.entities)
        while stack:
            e = stack.pop(0)
            if isinstance(e, lm.GroupAction):
                stack[:0] = list(e.actions)
            if not isinstance(e, lm.IncludeLaunchDescription):
                continue
            for key, val in e.arguments:
                if all(isinstance(s, lm.TextSubstitution) for s in key + val):
                    k, v = "".join(s.text for s in key), "".join(s.text for s in val)
                    default = shown[k].default_value if k in shown else None
                    text = None if default is None else lm.perform(lm.LaunchContext(), default) \
                        if all(isinstance(s, lm.TextSubstitution) for s in default) else "<substitution>"
                    if text != v:
                        errors.append(f"{path}: fixes {k}:={v} for an include, but --show-args shows "
                                      f"{k} with default {text!r}: declare it here with that default")
        return errors


def check_evaluation(ev: Evaluation, allow_refusal: bool = False) -> list[str]:
    errors = list(dict.fromkeys(ev.record.violations))
    if ev.failure:
        errors.append(f"{ev.path} {ev.args}: launch fails: {ev.failure}")
    if ev.refused and not allow_refusal:
        errors.append(f"{ev.path} {ev.args}: refused: {ev.refused}")
    return errors + check_processes(ev)


# ---- argument sets and whole files -------------------------------------------------------------------

def argument_sets(path: Path) -> list[dict]:
    """Defaults, each choice of each argument, robot x hardware, and a namespace."""
    lm.RECORD = lm.Record()
    lm.LOADER["load"] = _include
    with lm.installed():
        declared = show_arguments(load_file(path))
    base = {a.name: (a.choices[0] if a.choices else PLACEHOLDER) for a in declared if a.default_value is None}
    choices = {a.name: a.choices for a in declared if a.choices}
    sets = [dict(base), {**base, "namespace": "ns1"} if any(a.name == "namespace" for a in declared) else dict(base)]
    for name, values in choices.items():
        sets += [{**base, name: v} for v in values]
    if "robot" in choices and "hardware" in choices:
        sets += [{**base, "robot": r, "hardware": h} for r, h in itertools.product(choices["robot"], choices["hardware"])]
    unique = []
    for s in sets:
        if s not in unique:
            unique.append(s)
    return unique


@dataclass
class LaunchReport:
    path: Path
    nodes: list[tuple[str, str]] = field(default_factory=list)       # started by this file itself
    files: list[tuple[str, list[str]]] = field(default_factory=list)  # our launch files it includes itself
    errors: list[str] = field(default_factory=list)
    evaluations: int = 0


def check_launch_file(path: Path) -> LaunchReport:
    """Every rule, over every argument set of the file."""
    path = Path(path)
    rep = LaunchReport(path)
    try:
        rep.errors += check_source(path)
        rep.errors += check_show_args(path)
        sets = argument_sets(path)
    except Exception as e:   # noqa: BLE001 - the file cannot even be loaded
        rep.errors.append(f"{path}: cannot be loaded: {type(e).__name__}: {e}")
        return rep
    declared, performed = {}, set()
    for args in sets:
        with lm.installed():
            ev = evaluate(path, args)
        rep.evaluations += 1
        # a refusal (LaunchConfigError) is a valid answer to some combinations; never to the defaults
        rep.errors += check_evaluation(ev, allow_refusal=args != sets[0])
        facts = ev.record.files.get(str(path))
        if facts:
            declared.update(facts.declared)
            performed |= facts.performed
        for p in ev.record.processes:
            if p.where == str(path) and (p.package, p.executable) not in rep.nodes:
                rep.nodes.append((p.package, p.executable))
        for pkg, inc, _, where in ev.record.includes:
            parts = inc[len(lm.SHARE) + len(pkg) + 2:].split("/") if inc.startswith(lm.SHARE) else [inc]
            if where == str(path) and (pkg, parts) not in rep.files:
                rep.files.append((pkg, parts))
    for name in declared:
        if name not in performed:
            rep.errors.append(f"{path}: declares '{name}' but no argument set ever reads it")
    rep.errors = list(dict.fromkeys(rep.errors))
    return rep


# ---- README command lines -------------------------------------------------------------------------------

def readme_launch_lines(readme: Path = ROOT / "README.md") -> list[str]:
    out, in_code = [], False
    for line in readme.read_text().splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        elif in_code and line.strip().startswith("ros2 launch "):
            out.append(re.sub(r"\s+#.*$", "", line.strip()))    # the shell comment after it
    return out


def parse_command(line: str) -> tuple[Path, dict]:
    words = shlex.split(line, comments=True)
    pkg, file, *rest = words[2:]
    args = {}
    for w in rest:
        if ":=" not in w:
            raise ValueError(f"'{w}' in '{line}' is not name:=value")
        k, v = w.split(":=", 1)
        args[k] = v
    return ROOT / "launch" / pkg / file, args


def check_command(line: str) -> list[str]:
    """A `ros2 launch pkg file k:=v ...` line, exactly as written."""
    path, args = parse_command(line)
    if not path.exists():
        return [f"'{line}': {path.relative_to(ROOT)} does not exist"]
    with lm.installed():
        ev = evaluate(path, args)
    return [f"'{line}': {e}" for e in check_evaluation(ev)]

