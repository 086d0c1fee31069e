"""The viewer's model driven without a window (no Qt is imported here): what
the user would see of zoom limits, labels, export lattices and plans,
reference mode, panes, splits, flips and selection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.model import MethodBook, SideState, ViewerModel, side_status
from app.model.sides import progress_summary
from inference.downscale import DOWNSCALE_NOTE
from inference.geometry import Lattice
from inference.reference import GROUND_TRUTH
from inference.render import MAX_ZOOM, ViewState

PANE = (400, 300)  # physical pixels of every pane in these tests


@dataclass
class Weights:
    trained: bool
    in_training: bool = False
    summary: str = "12 steps"


@dataclass
class Loaded:
    rgb: np.ndarray
    path: str = "/photos/butterfly.png"
    bit_depth: int = 8


def model_with_image(w: int = 200, h: int = 100, methods: tuple[str, ...] = ("bicubic", "liif"),
                     panes: tuple[str, ...] = ("bicubic", "liif")) -> ViewerModel:
    model = ViewerModel(MethodBook(list(methods)))
    for name in panes:
        model.add_pane(name)
    rgb = np.random.default_rng(0).random((h, w, 3)).astype(np.float32)
    model.loaded = Loaded(rgb)
    model.show_image(rgb)
    model.apply_view(model.fit_view(PANE), PANE)
    return model


@dataclass
class Tile:
    """What a side reads of a rendered tile (inference.render.RenderedTile)."""

    phase: str = "full"
    final: bool = False
    from_cache: bool = False
    untrained: bool = False
    full_remaining: int = 0
    seconds: float = 0.5
    note: str = ""


# ------------------------------------------------------------------ view and zoom


def test_zoom_is_limited_to_between_fit_or_1_to_1_and_the_maximum() -> None:
    model = model_with_image(200, 100)
    lo, hi = model.zoom_limits(PANE)
    assert lo == pytest.approx(1.0) and hi == MAX_ZOOM  # a small image: 1:1 is the floor, not its fit (x2)
    big = model_with_image(4000, 1000)
    lo, _ = big.zoom_limits(PANE)
    assert lo == pytest.approx(0.1, rel=0.01)  # the whole image fits the pane at the lowest zoom
    big.apply_view(ViewState(2000, 500, 0.001), PANE)
    assert big.view.zoom == pytest.approx(lo)
    big.apply_view(ViewState(2000, 500, 1e6), PANE)
    assert big.view.zoom == MAX_ZOOM


def test_the_view_centre_stays_inside_the_image() -> None:
    model = model_with_image(200, 100)
    model.apply_view(ViewState(-50, 500, 4.0), PANE)
    assert (model.view.cx, model.view.cy) == (0.0, 100.0)


def test_a_moved_view_makes_finished_sides_wait_and_an_unmoved_one_does_not() -> None:
    model = model_with_image()
    for pane in model.panes:
        pane.sides["a"].state, pane.sides["a"].seconds = "done", 1.5
    assert model.apply_view(model.view, PANE) == []  # the same view: nothing to redo
    relabelled = model.apply_view(model.view.with_zoom(3.0), PANE)
    assert len(relabelled) == 2
    assert all(p.sides["a"].state == "preview" and p.sides["a"].seconds is None for p in model.panes)


# ------------------------------------------------------------------ rendering and labels


def test_renders_at_zoom_1_or_below_are_labelled_bicubic_and_above_are_not() -> None:
    model = model_with_image(2000, 1000, panes=("liif",))
    pane = model.panes[0]
    for zoom, expect_note in ((0.5, True), (1.0, True), (2.0, False)):
        model.apply_view(ViewState(1000, 500, zoom), PANE)
        begun = model.begin_renders(lambda p: model.view.lattice(*PANE), now=10.0)
        (_, side, request), = begun
        assert request is not None and request.method == "liif"  # the renderer substitutes, the label says so
        status = side_status(pane.sides[side], model.book, now=10.0)
        assert (status.notes[:1] == ["zoom \u2264 1: bicubic (models add nothing)"]) == expect_note
        assert (DOWNSCALE_NOTE in status.tooltip) == expect_note


def test_a_view_with_nothing_of_the_image_is_done_at_once() -> None:
    model = model_with_image(panes=("liif",))
    far = Lattice(2.0, 2.0, 10000.0, 10000.0, 50, 50)
    (_, _, request), = model.begin_renders(lambda p: far, now=0.0)
    assert request is None and model.panes[0].sides["a"].state == "done"


def test_label_counts_tiles_times_the_render_and_marks_random_weights() -> None:
    model = model_with_image(panes=("liif",))
    pane = model.panes[0]
    (_, side, request), = model.begin_renders(lambda p: model.view.lattice(*PANE), now=100.0)
    target = pane.target(side)
    st = pane.sides[side]
    found = model.route(request.generation, target)
    assert found == (pane, side)
    st.tile_shown(Tile(full_remaining=3), now=101.0)
    status = side_status(st, model.book, now=101.0)
    assert status.state == "refining" and status.progress == "1/4 tiles"
    # 0.5 s for its first full tile (decoded before it arrived), so ~1.5 s for the 3 left.
    assert status.seconds == pytest.approx(1.0) and status.remaining_s == pytest.approx(1.5)
    st.tile_shown(Tile(final=True), now=102.0)
    status = side_status(st, model.book, now=105.0)
    assert status.state == "done" and status.seconds == pytest.approx(2.0) and status.progress == ""
    model.book.weights_known["liif"] = Weights(trained=False)
    assert side_status(st, model.book, now=105.0).notes == ["untrained: random weights, not a result"]
    model.book.weights_known["liif"] = Weights(trained=True)
    assert not side_status(st, model.book, now=105.0).notes


def test_a_result_of_an_old_render_is_not_routed_to_its_pane() -> None:
    model = model_with_image(panes=("liif",))
    (pane, side, first), = model.begin_renders(lambda p: model.view.lattice(*PANE), now=0.0)
    # Asked again for the same lattice (a pane added beside it): the render in flight still answers it.
    assert model.begin_renders(lambda p: model.view.lattice(*PANE), now=1.0) == []
    assert model.route(first.generation, pane.target(side)) == (pane, side)
    # A lattice of another size (the pane resized): a new render, the old one's results are stale.
    (_, _, second), = model.begin_renders(lambda p: model.view.lattice(PANE[0] + 10, PANE[1]), now=2.0)
    assert second.generation > first.generation
    assert model.route(first.generation, pane.target(side)) is None


def test_a_cached_render_says_cached_time_zero() -> None:
    st = SideState("liif")
    st.begin_render(1, now=5.0, note="", anything_in_view=True)
    st.tile_shown(Tile(from_cache=True, final=True), now=6.0)
    assert st.seconds == 0.0 and st.state == "done"


def test_status_bar_summary_counts_panes_tiles_and_time_left() -> None:
    busy = SideState("liif", state="refining", decoded_any=True, full_done=2, full_total=6, full_began=0.0)
    done = SideState("bicubic", state="done")
    text, _ = progress_summary([[busy], [done]], queue=0, now=4.0)
    assert text == "Rendering 1 pane: 4 tiles left, ~8 s left"
    assert progress_summary([[done]], queue=3, now=4.0)[0] == "Working: 3 jobs"
    assert progress_summary([[done]], queue=0, now=4.0)[0] == "Idle"


def test_scores_read_as_psnr_and_ssim_and_identical_images_as_infinite() -> None:
    @dataclass
    class Score:
        psnr: float | None
        ssim: float | None = None
        error: str | None = None
        note: str = ""

    st = SideState("liif", metrics={"whole": Score(31.234, 0.91234), "visible": Score(120.0, 1.0)})
    metrics = side_status(st, MethodBook(["liif"]), now=0.0).metrics
    assert metrics == ["image: PSNR 31.23 dB \u00b7 SSIM 0.9123", "view: PSNR \u221e (identical) \u00b7 SSIM 1.0000"]


# ------------------------------------------------------------------ export


def test_export_of_the_view_at_its_zoom_is_the_panes_lattice_clipped_to_the_image() -> None:
    model = model_with_image(200, 100)
    model.apply_view(ViewState(100, 50, 4.0), PANE)
    view_lattice = model.view.lattice(*PANE)
    lat = model.export_lattice("view", pane_size=PANE, view_lattice=view_lattice)
    assert (lat.zx, lat.width, lat.height) == (4.0, PANE[0], PANE[1])  # all of the pane is image here
    model.apply_view(ViewState(0, 0, 4.0), PANE)  # the image's corner in the middle of the pane
    lat = model.export_lattice("view", pane_size=PANE, view_lattice=model.view.lattice(*PANE))
    assert (lat.u0, lat.v0, lat.width, lat.height) == (0.0, 0.0, PANE[0] // 2, PANE[1] // 2)


def test_export_of_the_selection_whole_image_and_width() -> None:
    model = model_with_image(200, 100)
    model.apply_view(ViewState(100, 50, 2.0), PANE)
    message = model.set_selection((10.0, 20.0, 60.0, 45.0))
    assert message.startswith("Selected 50.0 \u00d7 25.0 image pixels at (10.0, 20.0)")
    lat = model.export_lattice("selection", pane_size=PANE)
    assert (lat.zx, lat.width, lat.height) == (2.0, 100, 50)
    whole = model.export_lattice("whole", "scale", scale=3.0, pane_size=PANE)
    assert (whole.width, whole.height) == (600, 300)
    wide = model.export_lattice("selection", "width", width=500, pane_size=PANE)
    assert (wide.width, wide.height) == (500, 250)
    assert model.set_selection(None) == "" and model.selection is None


def test_export_at_zoom_1_or_below_is_bicubic_and_says_what_was_asked_for() -> None:
    model = model_with_image(200, 100)
    shrunk = model.export_lattice("whole", "scale", scale=0.5, pane_size=PANE)
    plan = model.export_plan(shrunk, "liif")
    assert plan.method == "bicubic"
    assert plan.metadata["Note"] == f"{DOWNSCALE_NOTE}; LIIF was asked for"
    assert plan.metadata["Source"] == "butterfly.png"
    enlarged = model.export_lattice("whole", "scale", scale=2.0, pane_size=PANE)
    assert model.export_plan(enlarged, "liif").method == "liif" and "Note" not in model.export_plan(
        enlarged, "liif").metadata


def test_comparison_names_each_method_once_and_marks_bicubic_below_1_to_1() -> None:
    model = model_with_image(200, 100, panes=("bicubic", "liif"))
    model.set_split(model.panes[0], "liif")  # liif twice on screen, once in the comparison
    model.book.weights_known["liif"] = Weights(trained=True)
    lat = model.export_lattice("whole", "scale", scale=2.0, pane_size=PANE)
    assert model.comparison_panes(lat) == [("Bicubic \u00b7 2\u00d7", "bicubic"), ("LIIF \u00b7 2\u00d7", "liif")]
    small = model.export_lattice("whole", "scale", scale=0.5, pane_size=PANE)
    assert model.comparison_panes(small)[1] == ("LIIF (bicubic at zoom \u2264 1) \u00b7 0.5\u00d7", "bicubic")


def test_export_choices_name_the_pane_and_side_and_mark_random_weights() -> None:
    model = model_with_image(panes=("bicubic", "liif"))
    model.book.weights_known["liif"] = Weights(trained=False)
    model.set_split(model.panes[1], "bicubic")
    model.active = 1
    choices, active = model.pane_choices()
    assert choices == [("Bicubic (pane 1)", "bicubic"), ("LIIF (untrained) (pane 2 left)", "liif"),
                       ("Bicubic (pane 2 right)", "bicubic")]
    assert active == 1


def test_default_export_name_has_the_image_method_and_zoom(tmp_path: Path) -> None:
    model = model_with_image()
    assert model.default_export_path("liif", 3.7, str(tmp_path)) == str(tmp_path / "butterfly_liif_x3.7.png")


# ------------------------------------------------------------------ panes, split, flip


def test_new_panes_show_a_learned_method_not_shown_yet_and_stop_at_eight() -> None:
    model = ViewerModel(MethodBook(["bicubic", "liif", "diif"]))
    assert [model.add_pane().sides["a"].method for _ in range(3)] == ["liif", "diif", "bicubic"]
    while model.add_pane() is not None:
        pass
    assert len(model.panes) == 8
    assert model.remove_pane(0) is not None and len(model.panes) == 7
    one = ViewerModel(MethodBook(["bicubic"]))
    one.add_pane()
    assert one.remove_pane(0) is None  # the last pane stays


def test_a_split_pane_has_two_sides_and_joining_it_forgets_the_right_one() -> None:
    model = model_with_image(panes=("bicubic",))
    pane = model.panes[0]
    assert model.split_partner(pane) == "liif"
    assert model.set_split(pane, "liif") and pane.active_sides() == ["a", "b"]
    model.set_split(pane, None)
    assert pane.active_sides() == ["a"] and pane.sides["b"].method == ""


def test_flip_goes_back_to_the_method_before_else_bicubic_and_to_the_ground_truth_in_reference_mode() -> None:
    model = model_with_image(panes=("liif",))
    pane = model.panes[0]
    assert model.flip_partner(pane) == "bicubic"
    model.set_method(pane, "a", "bicubic")
    assert model.flip_partner(pane) == "liif"
    model.enter_reference(2.0)
    assert model.flip_partner(pane) == GROUND_TRUTH  # not liif, flipped before
    model.set_method(pane, "a", GROUND_TRUTH)
    assert model.flip_partner(pane) == "bicubic"  # back to the pane's method


def test_remembered_panes_keep_methods_splits_and_dividers() -> None:
    model = model_with_image(panes=("liif", "bicubic"))
    model.set_split(model.panes[1], "liif")
    memories = model.pane_memories([0.5, 0.3])
    assert [(m.method, m.split, m.fraction) for m in memories] == [("liif", None, 0.5), ("bicubic", "liif", 0.3)]


# ------------------------------------------------------------------ reference mode


def test_reference_mode_shows_the_downscaled_image_offers_ground_truth_and_leaving_drops_it() -> None:
    model = model_with_image(200, 100, panes=("liif",))
    ref = model.enter_reference(4.0)
    model.show_image(ref.lr)
    assert model.image_label() == "reference \u00d74: LR 50 \u00d7 25 from 200 \u00d7 100"
    assert GROUND_TRUTH in model.offered()
    view = model.reference_start_view(PANE)
    assert view.zoom == 4.0  # the ground truth 1:1 fits the pane: start there
    requests = model.whole_metrics(model.panes[0])
    assert [(r.method, r.kind) for r in requests] == [("liif", "whole")]
    model.set_method(model.panes[0], "a", GROUND_TRUTH)
    model.leave_reference()
    assert model.reference is None and GROUND_TRUTH not in model.offered()
    assert model.panes[0].sides["a"].method == "liif"  # the method it had before the ground truth
    # A score computed for the reference arrives after leaving it: dropped.
    late = type("Result", (), {"generation": requests[0].generation, "target": requests[0].target,
                               "kind": "whole", "method": "liif"})()
    assert model.metrics_arrived(late) is None and model.whole_metrics(model.panes[0]) == []


def test_reference_mode_refuses_a_scale_that_leaves_nothing() -> None:
    model = model_with_image(20, 10)
    with pytest.raises(ValueError, match="too small for x16"):
        model.enter_reference(16.0)
    assert model.reference is None


def test_image_label_says_size_and_bit_depth() -> None:
    model = model_with_image(200, 100)
    assert model.image_label() == "200 \u00d7 100 px \u00b7 8-bit"
    assert ViewerModel(MethodBook(["bicubic"])).image_label() == "No image"


def test_labels_of_methods_in_the_picker() -> None:
    book = MethodBook(["bicubic", "liif"])
    assert book.label("bicubic") == "Bicubic"
    book.weights_known["liif"] = Weights(trained=False, in_training=True)
    assert book.label("liif") == "LIIF (in training)"
    book.weights_known["liif"] = Weights(trained=True)
    assert book.label("liif") == "LIIF" and book.tooltip("liif") == "LIIF: 12 steps"
    assert [e[0] for e in book.entries(reference=True)] == ["bicubic", "liif", GROUND_TRUTH]


def test_loaded_weights_make_the_sides_showing_that_method_start_over() -> None:
    model = model_with_image(panes=("liif", "bicubic"))
    liif, bicubic = model.panes[0].sides["a"], model.panes[1].sides["a"]
    for st in (liif, bicubic):
        st.state, st.seconds, st.metrics["whole"] = "done", 2.0, object()
    model.book.inspected["liif"] = (None, "not checked yet")
    replaced = model.weights_replaced("liif", "/weights/mine.safetensors")
    assert replaced == [(model.panes[0], "a")]
    assert (liif.state, liif.seconds, liif.metrics) == ("preview", None, {})
    assert (bicubic.state, bicubic.seconds) == ("done", 2.0) and bicubic.metrics
    assert model.book.weights_paths == {"liif": "/weights/mine.safetensors"} and "liif" not in model.book.inspected
    # Help › Methods and Weights names the file the weights came from.
    assert next(r for r in model.book.rows() if r.name == "liif").loaded_from == "/weights/mine.safetensors"


def test_a_reference_file_is_the_ground_truth_of_the_opened_image_as_it_is() -> None:
    model = model_with_image(40, 30, panes=("liif",))
    shown = model.image_id
    ref = model.match_reference("/photos/ref.png", np.zeros((121, 162, 3), np.uint8))
    assert model.reference is None  # nothing changes until it is used
    model.use_reference(ref)
    assert model.image_id == shown and model.image_size() == (40, 30)  # the panes keep the input
    assert model.reference_status() == "Reference: ref.png (\u00d74)"
    assert model.image_label() == "40 \u00d7 30 px, reference 160 \u00d7 120 (\u00d74)"
    assert GROUND_TRUTH in model.offered()
    assert model.reference_start_view(PANE).zoom == 4.0
    assert "ref.png" in model.export_metadata()["Reference"]
    model.leave_reference()
    assert model.reference is None and model.reference_status() == ""


def test_a_reference_file_of_no_whole_scale_is_refused_and_changes_nothing() -> None:
    model = model_with_image(40, 30)
    simulated = model.enter_reference(2.0)
    with pytest.raises(ValueError, match=r"ref\.png is 150 \u00d7 150 px.*40 \u00d7 30 px"):
        model.match_reference("/photos/ref.png", np.zeros((150, 150, 3), np.uint8))
    assert model.reference is simulated
