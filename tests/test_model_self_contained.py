"""Everything the viewer model (app/model/) needs lives in app/model/ or the
Qt-free core: it imports nothing else of the application and no widget
(widgets read the model's label through widgets.pane_label.PaneStatus, a
structural protocol, so neither side names the other)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def full_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_viewer_model_imports_only_itself_and_the_core() -> None:
    outside = {}
    for path in sorted((ROOT / "app" / "model").glob("*.py")):
        ours = {m for m in full_imports(path) if m.split(".")[0] in ("app", "widgets", "cli", "training")}
        stray = sorted(m for m in ours if not m.startswith("app.model"))
        if stray:
            outside[path.name] = stray
    assert not outside, outside
