"""What our nodes are, read from their source (no import, no ROS): the node names an executable's
process creates and the parameters it declares, with their types. launch_check.py judges launch
files against these."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def our_packages() -> dict[str, Path]:
    return {p.name: p for p in SRC.iterdir() if (p / "package.xml").exists()}


def console_scripts(pkg_dir: Path) -> dict[str, str]:
    """name -> 'module:func' from the entry_points of a package's setup.py."""
    out = {}
    for node in ast.walk(ast.parse((pkg_dir / "setup.py").read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.fullmatch(r"\s*([\w-]+)\s*=\s*([\w.]+):(\w+)\s*", node.value)
            if m:
                out[m.group(1)] = f"{m.group(2)}:{m.group(3)}"
    return out


@dataclass
class NodeFacts:
    module: Path
    names: list[str]                    # node names the process creates (literals found)
    params: dict[str, str]              # declared parameter -> bool | int | float | str | list | ?


def _kind(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int"
        if isinstance(v, float):
            return "float"
        if isinstance(v, str):
            return "list" if v.endswith("[]") else "str"
    if isinstance(node, ast.List | ast.Tuple):
        return "list"
    if isinstance(node, ast.Name) and node.id.endswith("_ARRAY"):
        return "list"
    return "?"


@cache
def node_facts(package: str, executable: str) -> NodeFacts | None:
    pkgs = our_packages()
    if package not in pkgs or executable not in console_scripts(pkgs[package]):
        return None
    module = pkgs[package] / (console_scripts(pkgs[package])[executable].split(":")[0].replace(".", "/") + ".py")
    if not module.exists():
        return None
    tree = ast.parse(module.read_text())
    names, params = [], {}
    defaults = {}   # __init__ argument defaults, for super().__init__(node_name)
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == "__init__":
            args = fn.args.args[-len(fn.args.defaults):] if fn.args.defaults else []
            defaults.update({a.arg: d.value for a, d in zip(args, fn.args.defaults) if isinstance(d, ast.Constant)})
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("PARAMS", "PARAMETERS")
                                                for t in node.targets) and isinstance(node.value, ast.Dict):
            for k, v in zip(node.value.keys, node.value.values):
                if isinstance(k, ast.Constant) and isinstance(v, ast.Tuple) and v.elts:
                    params[k.value] = _kind(v.elts[0])
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        fname = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        lits = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        if fname in ("create_node", "Node") and lits and isinstance(lits[0], str):
            names.append(lits[0])
        elif fname == "__init__" and isinstance(func.value, ast.Call) and getattr(func.value.func, "id", "") == "super" \
                and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.append(first.value)
            elif isinstance(first, ast.Name) and isinstance(defaults.get(first.id), str):
                names.append(defaults[first.id])
        elif fname == "Param" and len(node.args) >= 2 and isinstance(lits[0], str):
            params[lits[0]] = _kind(node.args[1])
        elif fname == "declare_parameter" and lits and isinstance(lits[0], str):
            params[lits[0]] = _kind(node.args[1]) if len(node.args) > 1 else "?"
        elif fname == "declare" and len(node.args) >= 3 and isinstance(lits[1], str):
            params[lits[1]] = _kind(node.args[2])
    params.update({k: v for k, v in _imported_params(tree, pkgs).items() if k not in params})
    return NodeFacts(module, names, params)


def _params_in(tree: ast.AST) -> dict[str, str]:
    return {n.args[0].value: _kind(n.args[1]) for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Param"
            and len(n.args) >= 2 and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)}


def _imported_params(tree: ast.AST, pkgs: dict[str, Path]) -> dict[str, str]:
    """Params declared by functions of our packages that the PARAMS table calls (one level), e.g.
    `ParamTable("fr3_driver", common_params(...) + [...])` with common_params imported."""
    table = next((n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "PARAMS" for t in n.targets)), None)
    if table is None:
        return {}
    called = {n.func.id for n in ast.walk(table) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    out: dict[str, str] = {}
    for imp in ast.walk(tree):
        if not (isinstance(imp, ast.ImportFrom) and imp.module and imp.module.split(".")[0] in pkgs):
            continue
        wanted = {a.name for a in imp.names} & called
        source = pkgs[imp.module.split(".")[0]] / (imp.module.replace(".", "/") + ".py")
        if not wanted or not source.exists():
            continue
        for fn in ast.walk(ast.parse(source.read_text())):
            if isinstance(fn, ast.FunctionDef) and fn.name in wanted:
                out.update(_params_in(fn))
    return out


def value_kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list | tuple):
        return "list"
    return "?"
