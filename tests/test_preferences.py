"""Edit › Preferences: device, precision the device supports, worker threads,
cache sizes; stored, validated, and applied by restarting the render worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from app.preferences import Preferences, load, precisions_for, stored, validated
from app.preferences_dialog import PreferencesDialog
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image, tiny_loader


def test_bf16_is_offered_only_where_the_device_runs_it_natively() -> None:
    assert precisions_for("cpu", lambda d: False) == ["auto", "fp32"]
    assert precisions_for("cuda", lambda d: d == "cuda") == ["auto", "fp32", "bf16"]


def test_validation_falls_back_to_what_this_machine_can_do() -> None:
    asked = Preferences("cuda", "bf16", 999, 1, 10**9)
    got = validated(asked, cuda_available=False, native_bf16=lambda d: False)
    assert got.device == "auto" and got.precision == "auto"
    assert 1 <= got.worker_threads <= 999 and got.tile_cache_mb == 32 and got.feature_cache_mb == 65536
    assert validated(Preferences("cpu", "bf16"), False, lambda d: d == "cpu").precision == "bf16"
    assert validated(Preferences("tpu", "fp64", "x"), False, lambda d: False) == Preferences()


def test_stored_preferences_round_trip() -> None:
    prefs = Preferences("cpu", "fp32", 1, 256, 1024)
    values = stored(prefs)
    assert validated(load(values.get), False, lambda d: False) == prefs
    assert load({}.get) == Preferences()
    # fp32 is asked for explicitly: "auto" (the default) may mean bf16 for some methods.
    assert prefs.upscaler_options() == {"precision": "fp32"}
    assert Preferences().upscaler_options() == {}  # the catalog's default: each method's measured precision
    assert Preferences(precision="bf16").upscaler_options() == {"precision": "bf16"}


def test_dialog_offers_only_the_precisions_the_chosen_device_has(qtbot) -> None:
    dialog = PreferencesDialog(Preferences(), cuda_available=False, precisions=lambda d: ["fp32", "bf16"] if d == "cuda"
                               else ["fp32"])
    qtbot.addWidget(dialog)
    cuda = dialog.device.findData("cuda")
    assert not dialog.device.model().item(cuda).isEnabled()  # no GPU here
    assert [dialog.precision.itemData(i) for i in range(dialog.precision.count())] == ["fp32"]
    dialog.threads.setValue(1)
    dialog.tile_cache.setValue(128)
    assert dialog.preferences() == Preferences("auto", "fp32", 1, 128, 2048)
    with_gpu = PreferencesDialog(Preferences("cuda", "bf16"), True,
                                 lambda d: ["fp32", "bf16"] if d == "cuda" else ["fp32"])
    qtbot.addWidget(with_gpu)
    assert with_gpu.preferences().precision == "bf16"
    with_gpu.device.setCurrentIndex(with_gpu.device.findData("cpu"))
    assert with_gpu.preferences().precision == "fp32"  # the CPU has no bf16 here


def test_applying_preferences_restarts_the_worker_with_them_and_panes_decode_again(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(4.0)
    wait_done(qtbot, window)
    old = window.service
    prefs = Preferences("cpu", "fp32", 1, 64, 128)
    assert window.service_actions.apply_preferences(prefs)
    assert window.service is not old and not old.is_running()
    qtbot.waitUntil(lambda: window.service.worker.renderer is not None, timeout=WAIT_MS)
    worker = window.service.worker
    assert worker.torch_threads == 1
    assert worker.renderer.tiles.budget_bytes == 64 << 20
    wait_done(qtbot, window)
    assert all(slot.pane.tile_count() > 0 for slot in window.slots())
    assert not window.service_actions.apply_preferences(prefs)  # nothing changed: no restart
    window.close()
    # The next launch starts with them.
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    again = MainWindow(device="auto", loader=tiny_loader(), methods=["bicubic", "liif"], settings=settings,
                       panes=["bicubic"])
    qtbot.addWidget(again)
    assert again.service_actions.preferences == prefs and again.service.device_name == "cpu"
    again.close()
