"""The package's modules import one another in one direction only: no import cycle, hidden or not,
and no import from a lower layer up to a higher one.

A cycle works until someone imports its modules in another order, and a function-level import that
hides one still ties the modules together, so every `diffseg` import statement, wherever it sits in
a module, is an edge of the graph checked here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "diffseg"


def module_name(path: Path, package: Path) -> str:
    """`diffseg.reports.figures.charts` for `<package>/figures/charts.py`, `diffseg.reports.figures` for its `__init__`."""
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: Path) -> set[str]:
    """Every module of the package that `path` imports, at module level or inside a function."""
    name, modules = module_name(path, package), {module_name(p, package) for p in package.rglob("*.py")}
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                parent = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{parent}.{base}" if base else parent
            imported.add(base)
            imported |= {f"{base}.{alias.name}" for alias in node.names}  # `from diffseg import train`
    return (imported & modules) - {name}


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    return {module_name(p, package): imported_modules(p, package) for p in sorted(package.rglob("*.py"))}


def import_cycle(package: Path) -> list[str] | None:
    """One import cycle of the package (its modules, the first repeated at the end), or None."""
    try:
        tuple(TopologicalSorter(import_graph(package)).static_order())
    except CycleError as error:
        return list(error.args[1])
    return None


def test_the_package_has_no_import_cycle():
    assert import_cycle(PACKAGE) is None


# The layers, lowest first: a module may import its own layer and those below it, never one above.
# Modules outside a layer (`diffseg.roots`, `diffseg.trained_run`: the workflow's bookkeeping) sit
# above them all.
LAYERS = ("runtime", "data", "method", "evaluation", "reports")
TOP = len(LAYERS)


def layer_of(module: str) -> int:
    """The rank of a module's layer: `diffseg.method.crf` → 2; a top-level module → TOP."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else TOP


def upward_imports(package: Path) -> list[str]:
    """Every import of the package that runs from a lower layer up to a higher one."""
    return sorted(
        f"{module} imports {imported}"
        for module, imports in import_graph(package).items()
        for imported in imports
        if layer_of(imported) > layer_of(module)
    )


def snakemake_imports(package: Path) -> list[str]:
    """Modules of the package that import Snakemake: the package must run without it."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "snakemake" for name in names):
                found.append(module_name(path, package))
    return found


def test_every_module_sits_in_a_layer_or_is_workflow_bookkeeping():
    top_level = sorted(m for m in import_graph(PACKAGE) if layer_of(m) == TOP)
    assert top_level == ["diffseg", "diffseg.roots", "diffseg.trained_run"]


def test_no_import_runs_from_a_lower_layer_up():
    assert upward_imports(PACKAGE) == []


def test_nothing_in_the_package_imports_snakemake():
    assert snakemake_imports(PACKAGE) == []


def test_an_upward_import_and_a_snakemake_import_are_found(tmp_path):
    package = tmp_path / "diffseg"
    for layer in ("method", "evaluation"):
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "evaluation" / "table.py").write_text("from diffseg.method import crf\n")
    (package / "method" / "crf.py").write_text("X = 1\n")
    assert upward_imports(package) == []
    (package / "method" / "crf.py").write_text("def fuse():\n    from diffseg.evaluation.table import T\n")
    assert upward_imports(package) == ["diffseg.method.crf imports diffseg.evaluation.table"]
    (package / "method" / "crf.py").write_text("import snakemake.io\n")
    assert snakemake_imports(package) == ["diffseg.method.crf"]


def test_labels_pair_model_and_training_import_one_way():
    graph = import_graph(PACKAGE)
    assert "diffseg.method.semantics" in graph["diffseg.method.semantic_pair"]
    assert "diffseg.method.semantic_pair" in graph["diffseg.method.model"]
    assert "diffseg.method.model" in graph["diffseg.method.training"]
    assert "diffseg.method.training" in graph["diffseg.method.semantic_training"]


def test_a_cycle_hidden_in_a_function_is_found(tmp_path):
    package = tmp_path / "diffseg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "labels.py").write_text("A = 1\n")
    (package / "model.py").write_text(
        "from diffseg.labels import A\n\ndef load():\n    from .sub import pair\n"
    )
    (package / "sub" / "pair.py").write_text("from ..model import load\n")
    assert import_cycle(package) in (
        ["diffseg.model", "diffseg.sub.pair", "diffseg.model"],
        ["diffseg.sub.pair", "diffseg.model", "diffseg.sub.pair"],
    )
    (package / "sub" / "pair.py").write_text("from diffseg import labels\n")
    assert import_cycle(package) is None


def test_every_module_imports_on_its_own():
    """Each module imported first, with no other module of the package loaded (one interpreter, so
    torch and friends load once)."""
    names = sorted(import_graph(PACKAGE))
    script = textwrap.dedent(
        f"""
        import importlib, sys, traceback
        failed = []
        for name in {names!r}:
            for loaded in [m for m in sys.modules if m == "diffseg" or m.startswith("diffseg.")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception:
                failed.append(name + ": " + traceback.format_exc(limit=1))
        print("\\n".join(failed))
        sys.exit(bool(failed))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
