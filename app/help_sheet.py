"""What Help › Keyboard and Mouse (F1) and Help › About say, as plain text:
no Qt, tested without a window.

The sheet lists the window's actions with their shortcuts as the menus have
them (the window hands them in, so the list never goes stale) and, from
`PANE_INPUT` here, what a pane does itself with keys and the mouse. About
says the version, the licence and where the shipped weights came from (each
weights file's own provenance, as Help › Methods and Weights shows it)."""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "implicit-zoom"
LICENCE = "MIT"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class KeyRow:
    keys: str
    what: str


# What a pane does itself (widgets.image_pane: wheelEvent, mouse*Event, keyPressEvent; widgets.zoom_slider).
PANE_INPUT = [
    KeyRow("Wheel", "zoom about the cursor, one zoom step a notch"),
    KeyRow("Drag", "pan"),
    KeyRow("Shift+Drag", "select a region to export (Tools \u203a Select Region: a plain drag selects)"),
    KeyRow("Drag the divider", "move a split pane's divider"),
    KeyRow("Click", "make the pane the active one (Flip, Copy View, Export and the toolbar act on it)"),
    KeyRow("+ or =", "zoom in one zoom step"),
    KeyRow("\u2212 or _", "zoom out one zoom step"),
    KeyRow("0", "fit the whole image"),
    KeyRow("1", "one image pixel per screen pixel"),
    KeyRow("Arrow keys", "pan by an eighth of the pane"),
    KeyRow("Esc", "clear the selection"),
    KeyRow("Hover a label", "its whole text: method, weights, notes, scores"),
    KeyRow("Zoom box", "type a zoom (3.7, 3.7x, 370%) and Enter; Esc leaves it; both give the keyboard back"),
]


def action_rows(actions: list[tuple[str, str, str]]) -> list[KeyRow]:
    """(shortcut, text, tip) of the window's actions: one row each that has a shortcut."""
    rows = []
    for shortcut, text, tip in actions:
        if not shortcut:
            continue
        name = text.replace("&", "").rstrip(".\u2026")
        rows.append(KeyRow(shortcut, f"{name}: {tip}" if tip and tip != text else name))
    return rows


def zoom_step_text(step: float) -> str:
    per_double = 1.0 / math.log2(step)
    return (f"One zoom step is \u00d7{step:.4g} (the wheel's notch, +/\u2212, the toolbar and "
            f"Ctrl++/Ctrl+\u2212 alike): {per_double:.3g} steps double the zoom.")


def sheet_html(actions: list[tuple[str, str, str]], zoom_step: float) -> str:
    """The whole sheet: the window's shortcuts, then the panes' own keys and mouse."""

    def table(rows: list[KeyRow]) -> str:
        cells = "".join(f"<tr><td style='padding-right:14px'><b>{html.escape(r.keys)}</b></td>"
                        f"<td>{html.escape(r.what)}</td></tr>" for r in rows)
        return f"<table cellspacing='2'>{cells}</table>"

    return (f"<h3>In a pane</h3>{table(PANE_INPUT)}<p>{html.escape(zoom_step_text(zoom_step))}</p>"
            f"<h3>Shortcuts</h3>{table(action_rows(actions))}")


# ---------------------------------------------------------------- About

def version(root: Path = PROJECT_ROOT) -> str:
    """The installed package's version, else the one pyproject.toml declares, else "unknown"."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(PACKAGE)
    except PackageNotFoundError:
        pass
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "unknown"


def weights_sources() -> list[tuple[str, str, str]]:
    """(method, source, licence) of each shipped weights file, from the file's provenance."""
    from inference import catalog, checkpoint

    found = []
    for name in catalog.all_methods():
        path = None if catalog.is_interpolation(name) else catalog.shipped_weights(name)
        if path is None:
            continue
        try:
            provenance = json.loads(checkpoint.read_metadata(path).get("provenance", "{}"))
        except Exception:  # noqa: BLE001 - an unreadable file: Methods and Weights says why
            provenance = {}
        if not isinstance(provenance, dict):
            provenance = {}
        # As Help › Methods and Weights says it (app.model.method_rows).
        data = provenance.get("data")
        source = str(provenance.get("source") or provenance.get("origin") or "")
        if not source:
            steps = provenance.get("steps")
            source = "trained for this project" + (f", {steps} steps" if steps else "")
        if data:
            source += f" (trained on {data})"
        # resources/README.md: shipped weights without a licence of their own are under the project's.
        licence = str(provenance.get("licence") or provenance.get("license") or f"{LICENCE}, the project's")
        found.append((catalog.display_name(name), source, licence))
    return found


def about_html(version_text: str, sources: list[tuple[str, str, str]]) -> str:
    rows = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(s)}; licence {html.escape(lic)}</li>"
                   for m, s, lic in sources)
    return (f"<b>Implicit Zoom</b> {html.escape(version_text)}<br>Look into an image: a continuous zoom, "
            "super-resolved on the fly by implicit neural decoders next to bicubic, in synchronised panes."
            f"<br><br>Licence: {LICENCE} (the LICENSE file). Press F1 for the keys and the mouse."
            f"<br><br>Shipped weights:<ul>{rows or '<li>none</li>'}</ul>"
            "Help \u203a Methods and Weights has each method's steps, metrics and files.")
