"""Comparing the way HandyView users do: F flips a pane between two methods in
place; the error map's colour scale is shown with its range."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from app.model.flip import flip_partner, method_after_reference
from tests.gui_helpers import make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image

OFFERED = ["bicubic", "nearest", "liif", "diif"]


def test_flip_partner_prefers_the_previous_method_then_the_reference_then_bicubic() -> None:
    assert flip_partner("liif", "diif", OFFERED) == "diif"
    assert flip_partner("liif", None, OFFERED) == "bicubic"
    assert flip_partner("liif", None, [*OFFERED, "ground-truth"], reference="ground-truth") == "ground-truth"
    assert flip_partner("bicubic", None, OFFERED) == "nearest"
    assert flip_partner("liif", "gone", OFFERED) == "bicubic"  # a method no longer offered is skipped
    assert flip_partner("liif", None, ["liif"]) is None


def test_in_reference_mode_flip_compares_with_the_ground_truth_whatever_was_flipped_before() -> None:
    offered = [*OFFERED, "ground-truth"]
    # The pane flipped bicubic -> liif before: F still goes to the ground truth, and back to liif.
    assert flip_partner("liif", "bicubic", offered, reference="ground-truth") == "ground-truth"
    assert flip_partner("ground-truth", "liif", offered, reference="ground-truth") == "liif"
    assert flip_partner("ground-truth", None, offered, reference="ground-truth") == "bicubic"


def test_leaving_reference_mode_gives_a_ground_truth_side_its_method_back() -> None:
    assert method_after_reference("ground-truth", "liif", "ground-truth", OFFERED) == "liif"
    assert method_after_reference("ground-truth", None, "ground-truth", OFFERED) == "bicubic"
    assert method_after_reference("ground-truth", "gone", "ground-truth", OFFERED) == "bicubic"
    assert method_after_reference("diif", "liif", "ground-truth", OFFERED) == "diif"


def test_f_flips_the_active_pane_between_two_methods_keeping_the_view(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], methods=["bicubic", "nearest", "liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(5.0)
    wait_done(qtbot, window)
    view = window.model.view
    pane = window.slots()[1].pane
    qtbot.mouseClick(pane, Qt.MouseButton.LeftButton)  # the pane becomes active
    assert window.active_slot() is window.slots()[1]
    window.slots()[1].picker.set_method("nearest")
    window.slots()[1].picker.set_method("liif")  # the pane showed nearest just before liif
    qtbot.keyClick(pane, Qt.Key.Key_F)
    assert window.slots()[1].sides["a"].method == "nearest"
    assert window.slots()[1].picker.method() == "nearest"
    wait_done(qtbot, window)
    assert pane.status().method == "Nearest" and window.model.view == view
    qtbot.keyClick(pane, Qt.Key.Key_F)
    assert window.slots()[1].sides["a"].method == "liif"
    wait_done(qtbot, window)
    assert pane.status().method.startswith("LIIF") and window.model.view == view
    assert window.slots()[0].sides["a"].method == "bicubic"  # the other pane is untouched


def test_flip_goes_to_the_ground_truth_in_reference_mode(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(24, 28)))
    assert window.reference_actions.enter_reference(2.0)
    window.acts.flip_action.trigger()
    assert window.slots()[0].sides["a"].method == "ground-truth"
    window.acts.flip_action.trigger()
    assert window.slots()[0].sides["a"].method == "liif"


def test_f_in_reference_mode_reaches_the_ground_truth_after_earlier_flips_and_leaving_restores(
        qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["liif"], methods=["bicubic", "liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(24, 28)))
    window.acts.flip_action.trigger()  # liif -> bicubic
    window.acts.flip_action.trigger()  # bicubic -> liif: the pane was flipped before
    assert window.slots()[0].sides["a"].method == "liif"
    assert window.reference_actions.enter_reference(2.0)
    window.acts.flip_action.trigger()
    assert window.slots()[0].sides["a"].method == "ground-truth"
    assert window.slots()[0].picker.method() == "ground-truth"
    wait_done(qtbot, window)
    window.reference_actions.leave_reference(reopen=True)
    assert window.slots()[0].sides["a"].method == "liif"
    assert window.slots()[0].picker.method() == "liif"
    wait_done(qtbot, window)
    assert window.slots()[0].pane.status().method.startswith("LIIF")


def test_error_map_shows_its_colour_scale_with_the_range(qtbot, tmp_path: Path) -> None:
    from inference.reference import ERROR_MAP_FULL

    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(24, 28)))
    assert not window.fields.error_legend.isVisible()
    assert window.reference_actions.enter_reference(2.0)
    window.acts.error_map_action.trigger()
    legend = window.fields.error_legend
    assert legend.isVisible()
    assert f"{ERROR_MAP_FULL:g}" in legend.text() and "/255" in legend.text()
    colours = legend.bar.colours
    assert colours[0][3] == 0  # no error: the image shows through
    assert tuple(colours[-1][:3]) == (255, 0, 0) and colours[-1][3] > 200  # the top of the range: opaque red
    window.acts.error_map_action.trigger()
    assert not legend.isVisible()
    window.acts.error_map_action.trigger()
    window.reference_actions.toggle_reference()  # leaving reference mode turns the map and its legend off
    assert not legend.isVisible()


def test_a_nearest_pane_shows_each_image_pixel_as_an_exact_block(qtbot, tmp_path: Path) -> None:
    import numpy as np

    from inference.render import to_display

    window = make_window(qtbot, tmp_path, ["nearest"], methods=["bicubic", "nearest", "liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(4.0)
    wait_done(qtbot, window)
    pane = window.slots()[0].pane
    shown, mask = pane.composed()
    lattice = pane.lattice()
    rows, cols = lattice.inside_mask(24, 20)
    image8 = to_display(window.model.image_rgb)
    expected = image8[np.floor(lattice.ys()[rows]).astype(int)][:, np.floor(lattice.xs()[cols]).astype(int)]
    assert mask[np.ix_(rows, cols)].all()
    np.testing.assert_array_equal(shown[np.ix_(rows, cols)], expected)
