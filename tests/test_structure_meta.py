"""The shape of the house, kept by tests (docs/architecture.md, "Layers"; docs/development.md).

Read from the source with ``ast``, so that a new module is held to the same rules without being listed anywhere:

- no module imports another module's underscore name, and no module of ours has an underscore name;
- no module imports one of ours inside a function (the way to hide a cycle), except an ``AppConfig.ready`` and the
  CLI's optional signing dependencies;
- no import cycle among our modules at import time;
- imports flow one way through the layers: a lower app never imports a higher one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "assay",
    "assay_cli",
    "assay_trust",
    "core",
    "registry",
    "lineage",
    "audits",
    "compliance",
    "governance",
    "serving",
    "workers",
)
# From the bottom up (docs/architecture.md): an app may import those before it, never those after. assay_trust is
# below everything (no Django); the Django project (assay) is above every app, except its Celery app and typed
# environment helpers, which every app may use. workers runs the jobs of every app.
LAYERS = (
    "assay_trust",
    "core",
    "registry",
    "lineage",
    "audits",
    "compliance",
    "governance",
    "serving",
    "workers",
    "assay",
)
EVERYWHERE = ("assay.celery", "assay.env")
# Imports inside functions that are there for a reason other than a cycle.
LAZY_ALLOWED = {
    # the CLI runs without the signing dependencies until a command signs or verifies (assay_cli/signing.py)
    ("assay_cli/signing.py", "trust"),
}
# A management command that runs the demo's jobs in-process (--wait) reaches up to the job runner on purpose.
LAYER_EXCEPTIONS = {("registry.management.commands.seed_churn_demo", "workers")}


@dataclass(frozen=True)
class Import:
    path: str  # the importing file, relative to the repository
    module: str  # the importing module's dotted name
    target: str  # the module imported (for ``from x import y``: x.y when x.y is one of our modules, else x)
    names: tuple[str, ...]
    line: int
    function: str  # the enclosing function's name, "" at module level
    type_checking: bool  # under ``if TYPE_CHECKING:``


def product_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path) for path in product_files()}


def ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    rel = str(path.relative_to(REPO))
    found: list[Import] = []

    def visit(node: ast.AST, function: str, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, function or child.name, type_checking)
            elif isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                visit(child, function, True)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(rel, module, alias.name, (), child.lineno, function, type_checking))
            elif isinstance(child, ast.ImportFrom):
                source = resolve(child, module, path.name == "__init__.py")
                for alias in child.names:
                    target = f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                    found.append(Import(rel, module, target, (alias.name,), child.lineno, function, type_checking))
            else:
                visit(child, function, type_checking)

    visit(ast.parse(path.read_text(), filename=rel), "", False)
    return found


ALL_IMPORTS = [found for path in product_files() for found in imports_of(path)]


def where(found: Import) -> str:
    return f"{found.path}:{found.line}"


def test_the_scan_sees_the_product() -> None:
    assert len(MODULES) > 150
    assert len([found for found in ALL_IMPORTS if ours(found.target)]) > 500


def test_no_module_imports_an_underscore_name_of_another() -> None:
    offending = [
        f"{where(found)} imports {name} from {found.target}"
        for found in ALL_IMPORTS
        if ours(found.target)
        for name in found.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert offending == []


def test_no_module_of_ours_has_an_underscore_name() -> None:
    private = sorted(
        name for name in MODULES if any(part.startswith("_") and not part.startswith("__") for part in name.split("."))
    )
    assert private == []


def test_no_module_of_ours_is_imported_inside_a_function() -> None:
    hidden = [
        f"{where(found)} imports {found.target} inside {found.function}()"
        for found in ALL_IMPORTS
        if found.function and ours(found.target)
        if found.function != "ready" and (found.path, found.function) not in LAZY_ALLOWED
    ]
    assert hidden == []


def test_no_import_cycle_among_our_modules() -> None:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for found in ALL_IMPORTS:
        if not found.function and not found.type_checking and found.target in MODULES and found.target != found.module:
            graph[found.module].add(found.target)
    cycles = [sorted(component) for component in strongly_connected(graph) if len(component) > 1]
    assert cycles == []


def layer_of(module: str) -> int | None:
    if module.startswith(EVERYWHERE):
        return None
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def test_imports_flow_down_the_layers() -> None:
    upward = []
    for found in ALL_IMPORTS:
        own, other = layer_of(found.module), layer_of(found.target)
        if own is None or other is None or other <= own:
            continue
        if (found.module, found.target.split(".")[0]) in LAYER_EXCEPTIONS:
            continue
        upward.append(f"{where(found)}: {found.module} imports {found.target}")
    assert upward == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The rules above find what they look for (a test that cannot fail keeps nothing)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [sorted(component) for component in strongly_connected(graph) if len(component) > 1] == [["a", "b", "c"]]
    source = "def f():\n    from core.models import Team\n\nfrom registry.actions.rules import _private\n"
    sample = REPO / "core" / "_sample_for_meta_test.py"
    try:
        sample.write_text(source)
        found = imports_of(sample)
    finally:
        sample.unlink()
    assert [(item.target, item.function) for item in found] == [
        ("core.models", "f"),
        ("registry.actions.rules", ""),
    ]
    assert found[1].names == ("_private",)
    assert layer_of("core.jobs") == 1
    assert layer_of("registry.models") == 2
    assert layer_of("assay.celery") is None


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the module graph is deep enough to trouble recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components
