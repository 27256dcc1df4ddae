"""The import rules (docs/architecture-rules.md) hold, and nothing under layers/ ships only for the tests.

The rules themselves are import-linter contracts in pyproject.toml (`[tool.importlinter]`); `make lint`
runs them too, but `make test` is what CI runs, so this file runs them again.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# The root packages of [tool.importlinter]; tests and bench are importable from the repo root only.
PACKAGES = (
    "connector",
    "coveo_push_api",
    "coveo_emulator",
    "aws_simulator",
    "coveo_push_cli",
    "tests",
    "bench",
)
# What ships in the Lambda layer: every module of these must be used by something that is not a test.
LAYER_PACKAGES = ("connector", "coveo_push_api")


def test_the_import_contracts_hold() -> None:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} is missing: pip install -e '.[local,dev]'"
    run = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"an import contract is broken:\n{run.stdout}\n{run.stderr}"
    assert "0 broken" in run.stdout, run.stdout


def _function_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """The graph modules each functions/*/app.py imports, read with ast (they are not a package)."""
    imports: dict[str, set[str]] = {}
    for app in sorted(ROOT.glob("functions/*/app.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(app.read_text(encoding="utf-8"), filename=str(app))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                # `from package import module` imports the module.
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        imports[str(app.relative_to(ROOT))] = {name for name in names if name in graph.modules}
    return imports


def _with_ancestors(modules: Iterable[str]) -> set[str]:
    """Importing a module runs its packages' __init__ modules first."""
    return {
        ".".join(parts[:i]) for parts in (m.split(".") for m in modules) for i in range(1, len(parts) + 1)
    }


def test_no_module_under_layers_is_used_only_by_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    functions = _function_imports(graph)
    assert len(functions) >= 3 and all(functions.values()), functions

    # Everything reachable from the Lambda functions, the CLI and the simulator, following imports
    # (a module that only a test-only module imports is itself used only by tests).
    roots = {m for imported in functions.values() for m in imported}
    roots |= {m for m in graph.modules if m.split(".")[0] in ("coveo_push_cli", "aws_simulator")}
    used: set[str] = set()
    todo = _with_ancestors(roots)
    while todo:
        module = todo.pop()
        used.add(module)
        todo |= _with_ancestors(graph.find_modules_directly_imported_by(module)) - used

    unused = sorted(m for m in graph.modules if m.split(".")[0] in LAYER_PACKAGES and m not in used)
    importers = {m: sorted(graph.find_modules_that_directly_import(m)) or ["nothing"] for m in unused}
    assert not unused, (
        "modules under layers/ that only tests (or bench) use, with who imports them:\n"
        + "\n".join(f"  {m} <- {', '.join(importers[m])}" for m in unused)
    )
