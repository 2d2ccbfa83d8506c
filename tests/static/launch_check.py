"""Static checks of launch files for machines without `launch`: parse them as Python source and
verify that every executable, included launch file and config file they name exists, and that an
include of one of our launch files passes arguments that file declares (within its choices)."""
from __future__ import annotations

import ast
import itertools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def our_packages() -> dict[str, Path]:
    return {p.name: p for p in SRC.iterdir() if (p / "package.xml").exists()}


def console_scripts(pkg_dir: Path) -> dict[str, str]:
    """name -> 'module:func' from the entry_points of a package's setup.py."""
    tree = ast.parse((pkg_dir / "setup.py").read_text())
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.fullmatch(r"\s*([\w-]+)\s*=\s*([\w.]+):(\w+)\s*", node.value)
            if m:
                out[m.group(1)] = f"{m.group(2)}:{m.group(3)}"
    return out


def declared_dependencies(pkg_dir: Path) -> set[str]:
    root = ET.parse(pkg_dir / "package.xml").getroot()
    tags = ("depend", "exec_depend", "build_depend", "test_depend")
    return {el.text.strip() for t in tags for el in root.findall(t)}


def share_to_source(pkg: str, parts: list[str]) -> Path:
    """share/<pkg>/launch/x -> launch/<pkg>/x; share/<pkg>/{config,urdf}/... -> {config,urdf}/..."""
    if parts[0] == "launch":
        return ROOT / "launch" / pkg / Path(*parts[1:])
    return ROOT / Path(*parts)


@dataclass
class LaunchReport:
    path: Path
    nodes: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, list[str]]] = field(default_factory=list)   # (package, path parts)
    errors: list[str] = field(default_factory=list)


def _const(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _choices(tree: ast.AST) -> dict[str, list[str]]:
    """Launch arguments declared with literal choices, and module-level list constants they use."""
    consts: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List | ast.Tuple):
            vals = [_const(e) for e in node.value.elts]
            if vals and all(vals):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        consts[t.id] = vals
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) == "DeclareLaunchArgument" and node.args:
            name = _const(node.args[0])
            for kw in node.keywords:
                if kw.arg == "choices":
                    if isinstance(kw.value, ast.Name) and kw.value.id in consts:
                        out[name] = consts[kw.value.id]
                    elif isinstance(kw.value, ast.List | ast.Tuple):
                        out[name] = [_const(e) for e in kw.value.elts]
    return out


def declared_arguments(tree: ast.AST) -> dict[str, bool]:
    """name -> whether it has a default_value, for every DeclareLaunchArgument with a literal name."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) == "DeclareLaunchArgument" and node.args:
            name = _const(node.args[0])
            if name is not None:
                out[name] = len(node.args) > 1 or any(kw.arg == "default_value" for kw in node.keywords)
    return out


def _expand(part, choices: dict[str, list[str]], local: dict[str, ast.AST]) -> list[str] | None:
    """All string values a path part can take, or None when it cannot be known statically."""
    if isinstance(part, ast.Name) and part.id in local:
        return _expand(local[part.id], choices, local)
    if (s := _const(part)) is not None:
        return [s]
    if isinstance(part, ast.Call) and _call_name(part) == "LaunchConfiguration" and part.args:
        return choices.get(_const(part.args[0]))
    if isinstance(part, ast.List):
        pieces = [_expand(e, choices, local) for e in part.elts]
        if any(p is None for p in pieces):
            return None
        return ["".join(c) for c in itertools.product(*pieces)]
    return None


def _resolve(node, local: dict[str, ast.AST]):
    """Follow local variable names to the expression last assigned to them."""
    seen = set()
    while isinstance(node, ast.Name) and node.id in local and node.id not in seen:
        seen.add(node.id)
        node = local[node.id]
    return node


def _check_include(path: Path, node: ast.Call, choices, local, rep: LaunchReport) -> None:
    """An include of one of our launch files passes only arguments that file declares, literal and
    choice-bound values within its choices, and every argument it declares without a default."""
    kw = {k.arg: k.value for k in node.keywords}
    src = _resolve(node.args[0] if node.args else kw.get("launch_description_source"), local)
    if isinstance(src, ast.Call) and _call_name(src).endswith("LaunchDescriptionSource") and src.args:
        src = _resolve(src.args[0], local)
    if not (isinstance(src, ast.Call) and _call_name(src) == "PathJoinSubstitution" and src.args
            and isinstance(src.args[0], ast.List) and src.args[0].elts):
        return
    head, *parts = src.args[0].elts
    if not (isinstance(head, ast.Call) and _call_name(head) == "FindPackageShare" and head.args):
        return
    pkg = _const(head.args[0])
    options = [_expand(p, choices, local) for p in parts]
    if pkg not in our_packages() or any(o is None for o in options):
        return   # not ours, or already reported as not statically resolvable
    passed: dict[str, ast.AST] = {}
    if "launch_arguments" in kw:
        call = _resolve(kw["launch_arguments"], local)
        mapping = (_resolve(call.func.value, local) if isinstance(call, ast.Call) and _call_name(call) == "items"
                   and isinstance(call.func, ast.Attribute) else None)
        keys = [_const(k) for k in mapping.keys] if isinstance(mapping, ast.Dict) else [None]
        if None in keys:
            rep.errors.append(f"{path}:{node.lineno}: launch_arguments of an include must be "
                              "{'literal name': value, ...}.items()")
            return
        passed = dict(zip(keys, mapping.values))
    for target_parts in itertools.product(*options):
        if target_parts[0] != "launch":
            continue
        target = share_to_source(pkg, list(target_parts))
        if not target.exists():
            continue   # reported with the PathJoinSubstitution
        target_tree = ast.parse(target.read_text())
        declared, target_choices = declared_arguments(target_tree), _choices(target_tree)
        where = f"{path}:{node.lineno}: include of {target.relative_to(ROOT)}"
        for name, value in passed.items():
            if name not in declared:
                rep.errors.append(f"{where} passes '{name}', which it does not declare")
            elif name in target_choices:
                outside = sorted(set(_expand(value, choices, local) or []) - set(target_choices[name]))
                if outside:
                    rep.errors.append(f"{where} passes {name}={outside}, outside its choices {target_choices[name]}")
        missing = sorted(n for n, has_default in declared.items() if not has_default and n not in passed)
        if missing:
            rep.errors.append(f"{where} does not pass its required argument(s) {missing}")


def check_launch_file(path: Path) -> LaunchReport:
    rep = LaunchReport(path)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as e:
        rep.errors.append(f"{path}: does not parse: {e}")
        return rep
    if not any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body):
        rep.errors.append(f"{path}: no generate_launch_description()")
    owner = path.parent.name
    pkgs = our_packages()
    declared = declared_dependencies(pkgs[owner]) if owner in pkgs else set()
    choices = _choices(tree)
    local = {t.id: n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
             for t in n.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name == "Node":
            kw = {k.arg: k.value for k in node.keywords}
            pkg, exe = _const(kw.get("package")), _const(kw.get("executable"))
            if pkg is None or exe is None:
                rep.errors.append(f"{path}:{node.lineno}: Node package/executable must be string literals")
                continue
            rep.nodes.append((pkg, exe))
            if pkg in pkgs:
                scripts = console_scripts(pkgs[pkg])
                if exe not in scripts:
                    rep.errors.append(f"{path}:{node.lineno}: '{pkg} {exe}' is not a console script of {pkg} ({sorted(scripts)})")
                else:
                    module = scripts[exe].split(":")[0]
                    if not (pkgs[pkg] / (module.replace(".", "/") + ".py")).exists():
                        rep.errors.append(f"{path}:{node.lineno}: module {module} of '{pkg} {exe}' does not exist")
            elif pkg not in declared:
                rep.errors.append(f"{path}:{node.lineno}: node package '{pkg}' is not declared in {owner}/package.xml")
        elif name == "IncludeLaunchDescription":
            _check_include(path, node, choices, local, rep)
        elif name == "PathJoinSubstitution" and node.args and isinstance(node.args[0], ast.List):
            elts = node.args[0].elts
            if not elts or not (isinstance(elts[0], ast.Call) and _call_name(elts[0]) == "FindPackageShare"):
                continue
            pkg = _const(elts[0].args[0]) if elts[0].args else None
            if pkg is None:
                rep.errors.append(f"{path}:{node.lineno}: FindPackageShare needs a literal package name")
                continue
            if pkg not in pkgs:
                if pkg not in declared:
                    rep.errors.append(f"{path}:{node.lineno}: package '{pkg}' is not declared in {owner}/package.xml")
                continue
            options = [_expand(p, choices, local) for p in elts[1:]]
            if any(o is None for o in options):
                rep.errors.append(f"{path}:{node.lineno}: path into share/{pkg} is not statically resolvable "
                                  "(use literals or LaunchConfiguration with declared choices)")
                continue
            for parts in itertools.product(*options):
                rep.files.append((pkg, list(parts)))
                target = share_to_source(pkg, list(parts))
                if not target.exists():
                    where = f"share/{pkg}/{'/'.join(parts)} -> {target.relative_to(ROOT)}"
                    rep.errors.append(f"{path}:{node.lineno}: {where} does not exist")
    return rep


def all_launch_files() -> list[Path]:
    return sorted((ROOT / "launch").glob("*/*.launch.py"))
