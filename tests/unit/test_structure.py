"""The package's structure: no import cycle, no private name used across modules, one definition
of each OpenResty option."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import grimp
import pytest

from harness.faults.registry import FAULT_NAMES
from harness.openresty_spec import OPTION_NAMES, OpenRestyOptions
from harness.scenarios.spec import Options
from harness.services import SERVICE_NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "harness"
SELVES = {"self", "cls"}


def import_cycles(package: str) -> list[list[str]]:
    """Groups of modules that import each other, directly or not (imports under TYPE_CHECKING and
    inside functions count: they are the same coupling, only deferred)."""
    graph = grimp.build_graph(package, include_external_packages=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_harness_has_no_import_cycle():
    assert import_cycles("harness") == []


def private_uses(source: str) -> list[str]:
    """``from harness.x import _name`` and ``obj._name`` on anything but ``self``/``cls``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in SELVES)):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_private_name_check_catches_both_kinds():
    code = "from harness.stage import _x\nstage._busy.append(1)\nself._ok = 1\nobj.__class__\n"
    assert private_uses(code) == ["line 1: import _x", "line 2: stage._busy"]


@pytest.mark.parametrize("path", sorted(p.relative_to(PACKAGE.parent).as_posix()
                                        for base in (PACKAGE, PACKAGE.parent / "tests", PACKAGE.parent / "bench")
                                        for p in base.rglob("*.py")))
def test_no_module_uses_another_modules_private_names(path):
    """The harness's modules, its tests and its benchmarks use each other's public names only."""
    assert private_uses((PACKAGE.parent / path).read_text()) == []


def option_classes(source: str) -> list[str]:
    """Classes that define several OpenResty options: fields of those names with a default."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            names = {s.target.id for s in node.body
                     if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value is not None}
            if len(names & set(OPTION_NAMES)) >= 3:
                found.append(node.name)
    return found


def test_each_openresty_option_is_defined_once():
    """One class defines them, with their defaults and docs; the YAML options are that class."""
    assert issubclass(Options, OpenRestyOptions) and set(Options.model_fields) == set(OPTION_NAMES)
    assert set(OPTION_NAMES) == {"workers", "env", "memory", "cpus", "nofile", "ports", "error_log_level", "init",
                                 "mounts", "workdir", "image", "reuse", "services"}
    assert all(field.description for field in OpenRestyOptions.model_fields.values())
    where = {p.relative_to(PACKAGE).as_posix(): option_classes(p.read_text()) for p in PACKAGE.rglob("*.py")}
    assert {path: classes for path, classes in where.items() if classes} == {"openresty_spec.py": ["OpenRestyOptions"]}


FRONT_ENDS = sorted([*(PACKAGE / "scenarios").rglob("*.py"), *(PACKAGE / "tnginx").rglob("*.py"),
                     PACKAGE / "pytest_plugin.py", PACKAGE / "factory.py"])
STARTERS = {*SERVICE_NAMES, "service_env", "running_services"}  # Stage.redis(), .dns(), .memcached()...


def service_starts(source: str) -> list[str]:
    """Calls of a stage's per-service starters (``stage.redis()``) and fault proxy routes to a
    service written by hand (``fault_proxy({"redis": ...})``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in STARTERS:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
            if node.func.attr == "fault_proxy" and any(
                    isinstance(a, ast.Dict) and any(isinstance(k, ast.Constant) and k.value in SERVICE_NAMES
                                                    for k in a.keys) for a in node.args):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_service_start_check_catches_starters_and_hand_written_routes():
    code = 'stage.redis()\nself.stage.dns()\nstage.fault_proxy({"redis": (1, ip, 1)})\nstage.openresty("x")\n'
    assert [f.split(":")[0] for f in service_starts(code)] == ["line 1", "line 2", "line 3"]


@pytest.mark.parametrize("path", [p.relative_to(PACKAGE).as_posix() for p in FRONT_ENDS])
def test_front_ends_declare_services_and_do_not_start_them(path):
    """A front end says which services an OpenResty uses (``services=``), and ``Stage.plan`` starts
    them; it never starts one by hand before asking for OpenResty, nor writes a route to one."""
    assert service_starts((PACKAGE / path).read_text()) == []


def test_each_fault_kind_is_defined_once():
    """Only harness/faults/registry.py names faults: nowhere else in the package is a fault's name a
    string of its own (a Literal of kinds, a dispatch table, a second spelling)."""
    where = {}
    for path in PACKAGE.rglob("*.py"):
        names = sorted({node.value for node in ast.walk(ast.parse(path.read_text()))
                        if isinstance(node, ast.Constant) and node.value in FAULT_NAMES})
        if names:
            where[path.relative_to(PACKAGE).as_posix()] = names
    assert set(where) <= {"faults/registry.py"}, where


def test_the_redis_port_is_written_once():
    """Redis's port (and so the route to it) is named in harness/containers/redis.py alone."""
    where = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
             if any(isinstance(n, ast.Constant) and n.value == 6379 for n in ast.walk(ast.parse(p.read_text())))]
    assert where == ["containers/redis.py"]


FRONT_END_PACKAGES = ("harness.scenarios", "harness.tnginx")
FEATURE_PACKAGES = ("harness.preflight", "harness.perf")  # not front ends, but owners of options
CORE_PLUGIN = ("harness.pytest_plugin", "harness.pytest_stage", "harness.settings")


def imported_front_ends(graph: grimp.ImportGraph, module: str) -> list[str]:
    """The front-end modules ``module`` imports, directly or through others."""
    return sorted(m for m in graph.find_upstream_modules(module)
                  if any(m == p or m.startswith(f"{p}.") for p in FRONT_END_PACKAGES))


def test_the_core_plugin_knows_no_front_end():
    """The core pytest plugin, its shared glue and the core settings import nothing of a front end:
    each front end is a plugin of its own (``pytest_plugins``), with its options, collection and
    session end."""
    graph = grimp.build_graph("harness", include_external_packages=False)
    assert {m: imported_front_ends(graph, m) for m in CORE_PLUGIN} == {m: [] for m in CORE_PLUGIN}


def test_front_ends_do_not_import_each_other():
    graph = grimp.build_graph("harness", include_external_packages=False)
    crossing = [(a, b) for a in FRONT_END_PACKAGES for b in FRONT_END_PACKAGES if a != b
                and graph.chain_exists(importer=a, imported=b, as_packages=True)]
    assert crossing == []


def test_each_front_end_is_a_plugin_of_the_core():
    """The core registers every front end's plugin module, and each owns its collection hook; the
    preflight and ``harness perf`` own their options in plugins of their own too."""
    from harness import pytest_plugin

    assert set(pytest_plugin.pytest_plugins) == {f"{p}.plugin" for p in (*FRONT_END_PACKAGES, *FEATURE_PACKAGES)}
    assert not hasattr(pytest_plugin, "pytest_collect_file")
    for package in FRONT_END_PACKAGES:
        plugin = importlib.import_module(f"{package}.plugin")
        assert all(hasattr(plugin, hook) for hook in ("pytest_addoption", "pytest_collect_file",
                                                      "pytest_sessionfinish"))
    for package in FEATURE_PACKAGES:
        assert hasattr(importlib.import_module(f"{package}.plugin"), "pytest_addoption")


def test_every_local_forward_comes_from_a_service_definition():
    """A ``.t`` suite's 127.0.0.1 ports (the companion's forwards) are declared by the services
    (``ServiceDef.local``): ``LocalPort`` is built in harness/services.py alone, the ``.t`` runner's table
    is derived from the declarations, and no other module writes a declared ``TEST_NGINX_*`` variable."""
    from harness.services import SERVICES, LocalPort
    from harness.tnginx.adapter import LOCAL_PORTS

    declared = [(d.name, p) for d in SERVICES.values() for p in d.local]
    assert [(f.service, LocalPort(f.var, f.address, f.index, f.alias)) for f in LOCAL_PORTS] == declared and declared
    variables = {p.var for _, p in declared}
    built, written = [], []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "LocalPort":
                built.append(rel)
            if isinstance(node, ast.Constant) and node.value in variables:
                written.append(rel)
    assert set(built) == {"services.py"} and set(written) <= {"services.py"}, (built, written)
