"""The package's modules import one another in one direction only: no import cycle, hidden or not.

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
    """`diffseg.figures.charts` for `<package>/figures/charts.py`, `diffseg.figures` for its `__init__`."""
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


def test_labels_pair_model_and_training_import_one_way():
    graph = import_graph(PACKAGE)
    assert "diffseg.semantics" in graph["diffseg.semantic_pair"]
    assert "diffseg.semantic_pair" in graph["diffseg.model"]
    assert "diffseg.model" in graph["diffseg.train"]
    assert "diffseg.train" in graph["diffseg.semantic_training"]


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
