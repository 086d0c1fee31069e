"""inference/, training/ and the command line (cli/) never import Qt; widgets/ never imports
torch; the viewer's model (app/model/) never imports Qt (napari-style contract), directly
(checked here without extra tools) and through any chain (import-linter, and a fresh
interpreter for the model)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QT = ("PySide6", "PyQt5", "PyQt6", "qtpy", "qtawesome", "shiboken6")
TORCH = ("torch",)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(("package", "banned"), [("inference", QT), ("training", QT), ("cli", QT), ("widgets", TORCH),
                                             ("app/model", QT)])
def test_package_does_not_import(package: str, banned: tuple[str, ...]) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = [f"{f.relative_to(ROOT)} imports {m}" for f in files for m in imported_modules(f) & set(banned)]
    assert not offenders, "\n".join(offenders)


def test_checker_sees_a_banned_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from PySide6 import QtCore\n    import torch.nn as nn\n")
    assert imported_modules(sample) >= {"PySide6", "torch"}


def test_transitive_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The import-linter contracts of pyproject.toml (chains through any module
    count, not only the direct imports checked above); CI runs them too."""
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is in the [lint] extra")
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    assert cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_viewer_model_loads_no_qt_through_any_import() -> None:
    """Not only its own imports: nothing app.model pulls in loads Qt either
    (checked in a fresh interpreter, where nothing else has loaded it)."""
    code = ("import sys, app.model, app.model.viewer, app.model.sides, app.model.methods; "
            "print(sorted({{m.split('.')[0] for m in sys.modules}} & {{{}}}))".format(", ".join(repr(m) for m in QT)))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"importing app.model loaded {result.stdout.strip()}"


def test_inference_has_no_import_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """No chain of imports inside inference/ leads back to where it started
    (annotation-only imports count too): the registry and precision are told,
    the method modules register themselves, the catalog imports them all."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter, in the [lint] extra")
    monkeypatch.syspath_prepend(str(ROOT))
    graph = grimp.build_graph("inference", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *tuple(back))))
    assert not cycles, "import cycles in inference/:\n" + "\n".join(cycles)
