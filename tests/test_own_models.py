"""Bring your own model, wired in (issue 23, phase 2): a user's model file is
a method everywhere: catalog, viewer (File › Load Model, a drop on a pane,
the pickers, Help › Methods and Weights, remembered across launches), and
the command line (upscale --model, batch, evaluate --model). Small random
spandrel networks written in tmp_path stand in for real weights."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import main
from inference import catalog, user_models
from inference.imageio import load_image, read_metadata
from tests.test_external_models import write_model


@pytest.fixture(autouse=True)
def _no_models_left() -> Iterator[None]:
    """A process starts knowing no user model: none leaks into another test."""
    user_models.clear()
    yield
    user_models.clear()


@pytest.fixture
def compact(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return write_model("compact-x4.safetensors", folder)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*argv: str) -> int:
    try:
        return main.main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def photo(path: Path, size: tuple[int, int] = (12, 10), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


# ---------------------------------------------------------------- the catalog


def test_a_model_file_is_a_method_of_the_catalog_and_same_stems_get_distinct_names(tmp_path: Path,
                                                                                   compact: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = write_model("compact-x4.safetensors", other)
    first, second = user_models.add(compact), user_models.add(twin)
    assert (first, second) == ("model:compact-x4", "model:compact-x4-2")
    assert user_models.add(compact) == first  # the same file keeps its name
    assert catalog.all_methods()[-2:] == [first, second]
    up = catalog.load_upscaler(second, "cpu", precision="fp32")
    assert up.name == second and up.display == "compact-x4-2 x4 (RealESRGAN Compact)"
    assert catalog.display_name(second) == up.display and catalog.shipped_status(second) == "trained"
    assert user_models.label_for(second, 3.7) == "compact-x4-2 x4 (RealESRGAN Compact), resampled to x3.7"
    assert user_models.label_for(second, 4.0) == up.display
    assert user_models.label_for(second, 0.93) == up.display  # bicubic draws there, and the pane's note says so
    with pytest.raises(ValueError, match="taken"):
        user_models.add(twin, name="bicubic")


def test_the_viewer_model_names_and_describes_a_model_without_a_window(compact: Path) -> None:
    from app.model import MethodBook
    from app.model.method_rows import MODEL_STATUS
    from app.model_actions import StartupProblems, remembered

    book = MethodBook(["bicubic"])
    name = user_models.add(compact)
    assert book.add_model(name) and not book.add_model(name) and book.names == ["bicubic", name]
    assert book.rows()[-1].status == "checking\u2026"  # not loaded yet
    catalog.load_upscaler(name, "cpu", precision="fp32")
    assert book.pane_name(name, 4.0) == "compact-x4 x4 (RealESRGAN Compact)"
    assert book.pane_name(name, 2.5).endswith(", resampled to x2.5") and book.pane_name("bicubic", 2.5) == "Bicubic"
    row = book.rows()[-1]
    assert row.status == MODEL_STATUS and not row.can_load_weights and row.loaded_from == str(compact.resolve())
    facts = dict(row.model)
    assert facts["SHA-256"] == sha256(compact) and facts["Native scale"] == "\u00d74"
    assert facts["Tiling"].startswith("seamless")
    assert remembered("a.pth") == ["a.pth"] and remembered(["a", "a", "b"]) == ["a", "b"] and remembered(None) == []
    problems = StartupProblems()
    problems.add("/x/a.pth", "no longer there")
    assert problems.add("/y/b.pth", "unknown architecture") == \
        "Forgot 2 remembered model files: a.pth (no longer there); b.pth (unknown architecture)"


# ---------------------------------------------------------------- the command line


def test_upscale_with_a_model_file_records_its_sha256(tmp_path: Path, compact: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "big.png"
    assert cli("upscale", str(photo(tmp_path / "in.png")), "--model", str(compact), "--scale", "3", "-o", str(out),
               "--device", "cpu") == 0
    assert (load_image(out).width, load_image(out).height) == (36, 30)
    meta = read_metadata(out)
    assert meta["model_sha256"] == sha256(compact) and meta["model_file"] == str(compact.resolve())
    assert meta["Method"] == "compact-x4 x4 (RealESRGAN Compact) (model:compact-x4)"
    assert meta["model_architecture"] == "RealESRGAN Compact"
    assert "compact-x4 x4 (RealESRGAN Compact)" in capsys.readouterr().out


def test_upscale_model_refusals_are_one_line(tmp_path: Path, compact: Path, capsys: pytest.CaptureFixture) -> None:
    image = str(photo(tmp_path / "in.png"))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a model")
    for argv, expected in ((["--model", str(tmp_path / "none.pth")], "no such file"),
                           (["--model", str(compact), "--method", "bicubic"], "not both"),
                           (["--model", str(broken)], "broken.pth")):
        assert cli("upscale", image, *argv, "-o", str(tmp_path / "o.png"), "--device", "cpu") != 0
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_batch_with_a_model_file(tmp_path: Path, compact: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        photo(folder / f"p{i}.png", seed=i)
    out = tmp_path / "out"
    assert cli("upscale", str(folder), "--model", str(compact), "--scale", "2", "-o", str(out), "--device", "cpu",
               "--quiet") == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["p0_model-compact-x4_x2.png", "p1_model-compact-x4_x2.png"]
    assert read_metadata(out / written[0])["model_sha256"] == sha256(compact)


def test_evaluate_a_model_file_under_its_own_name(tmp_path: Path, compact: Path) -> None:
    data = tmp_path / "eval"
    (data / "Tiny").mkdir(parents=True)
    photo(data / "Tiny" / "a.png", (24, 24))
    out = tmp_path / "results"
    assert cli("evaluate", "--methods", "bicubic", "--model", f"mine={compact}", "--data", str(data),
               "--scales", "4", "--out", str(out), "--device", "cpu") == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert {c["method"] for c in report["results"]} == {"bicubic", "mine"}
    assert "mine x4 (RealESRGAN Compact)" in out.with_suffix(".md").read_text()
    assert cli("evaluate", "--methods", "bicubic", "--model", f"liif={compact}", "--data", str(data),
               "--scales", "4", "--out", str(out), "--device", "cpu") == 2


# ---------------------------------------------------------------- the viewer

qt = pytest.importorskip("PySide6")


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> Any:
    from tests.gui_helpers import make_window

    return make_window(qtbot, tmp_path, ["bicubic", "liif"])


def _loaded(qtbot: Any, window: Any, name: str = "model:compact-x4") -> None:
    qtbot.waitUntil(lambda: name in window.model.book.names, timeout=60000)


def test_load_model_into_a_pane_label_picker_and_methods_dialog(qtbot: Any, tmp_path: Path, window: Any,
                                                                compact: Path) -> None:
    from tests.gui_helpers import open_image, wait_done

    assert open_image(qtbot, window, photo(tmp_path / "in.png", (40, 30)))
    slot = window.slots()[1]
    window.service_actions.models.load(compact, slot)
    _loaded(qtbot, window)
    name = "model:compact-x4"
    qtbot.waitUntil(lambda: slot.sides["a"].method == name, timeout=60000)
    assert all(name in s.picker.names() for s in window.slots())
    wait_done(qtbot, window)
    window.set_zoom(3.0)
    wait_done(qtbot, window)
    assert slot.pane.label_text()[0].startswith("compact-x4 x4 (RealESRGAN Compact), resampled to x3")
    window.service_actions.show_methods()
    dialog = window.service_actions.methods_dialog
    qtbot.waitUntil(lambda: dialog.row(name).status == "your model", timeout=60000)
    facts = dict(dialog.row(name).model)
    assert facts["Architecture"] == "RealESRGAN Compact" and facts["Native scale"] == "\u00d74"
    assert int(facts["Parameters"].replace(",", "")) > 0 and facts["SHA-256"] == sha256(compact)
    assert not dialog.load_button(name).isEnabled()
    dialog.table.setCurrentCell([r.name for r in dialog.rows()].index(name), 0)
    assert sha256(compact) in dialog.details.text() and str(compact.resolve()) in dialog.details.text()
    dialog.close()


def test_a_model_file_dropped_on_a_pane_shows_there(qtbot: Any, window: Any, compact: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    slot = window.slots()[0]
    point = slot.pane.mapTo(window, slot.pane.rect().center())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(compact))])
    event = QDropEvent(QPointF(point), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    _loaded(qtbot, window)
    qtbot.waitUntil(lambda: slot.sides["a"].method == "model:compact-x4", timeout=60000)
    assert window.slots()[1].sides["a"].method != "model:compact-x4"


def test_a_model_is_remembered_across_launches_and_a_missing_one_is_one_line(qtbot: Any, tmp_path: Path,
                                                                            window: Any, compact: Path) -> None:
    from tests.gui_helpers import make_window

    window.service_actions.models.load(compact, window.slots()[1])
    _loaded(qtbot, window)
    qtbot.waitUntil(lambda: window.slots()[1].sides["a"].method == "model:compact-x4", timeout=60000)
    assert window.settings.value("models") in ([str(compact.resolve())], str(compact.resolve()))
    gone = write_model("compact-x4.pth", tmp_path)
    window.settings.setValue("models", [str(gone), str(compact.resolve())])
    window.settings.sync()
    gone.unlink()
    window.close()
    user_models.clear()  # a new process
    again = make_window(qtbot, tmp_path, ["bicubic"])
    _loaded(qtbot, again)
    assert "model:compact-x4" in again.slots()[0].picker.names()
    # The last session's pane on the model comes back once the model has loaded.
    qtbot.waitUntil(lambda: [s.sides["a"].method for s in again.slots()] == ["bicubic", "model:compact-x4"],
                    timeout=60000)
    message = again.statusBar().currentMessage()
    assert message.startswith("Forgot 1 remembered model file: compact-x4.pth") and "\n" not in message
    assert again.settings.value("models") in ([str(compact.resolve())], str(compact.resolve()))


def test_a_refused_file_is_one_line_and_without_spandrel_the_install_line(
        qtbot: Any, tmp_path: Path, window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from PySide6.QtWidgets import QMessageBox

    from inference.external import INSTALL_HINT

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append((title, text)))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 16)
    window.service_actions.models.load(broken)
    qtbot.waitUntil(lambda: bool(shown), timeout=60000)
    assert "\n" not in shown[0][1] and "broken.safetensors" in shown[0][1]
    assert not user_models.names() and window.model.book.names == ["bicubic", "liif"]
    assert not window.settings.value("models")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "spandrel" else real(n, *a))
    window.service_actions.models.load_dialog()
    assert INSTALL_HINT in shown[-1][1] and "\n" not in shown[-1][1]


def test_a_project_checkpoint_dropped_on_a_pane_loads_as_weights_not_as_a_model(qtbot: Any, window: Any,
                                                                                tmp_path: Path) -> None:
    """One of this project's own .safetensors (weights for a built-in method)
    dropped on a pane is taken as File > Load Weights takes it, not refused as
    an unknown network."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from tests.test_reliability import tiny_checkpoint

    path = tiny_checkpoint(tmp_path / "weights" / "liif.safetensors", seed=3)
    assert user_models.is_project_checkpoint(path) and not user_models.is_project_checkpoint(tmp_path / "none")
    slot = window.slots()[1]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(slot.pane.mapTo(window, slot.pane.rect().center())), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.weightsChanged, timeout=60000) as blocker:
        window.dropEvent(event)
    assert blocker.args == ["liif", str(path)]
    assert not any(name.startswith(user_models.PREFIX) for name in window.model.book.names)
