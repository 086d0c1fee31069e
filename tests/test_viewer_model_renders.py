"""Issue 21 (5, 6) in the viewer's model, without a window: which sides a
render pass asks the worker for, in what order, and in which state."""

from __future__ import annotations

from collections.abc import Callable

from app.model import PaneState, ViewerModel
from inference.geometry import Lattice
from inference.render import RenderRequest
from tests.test_viewer_model import PANE, Tile, model_with_image


def sizes(model: ViewerModel, size: tuple[int, int] = PANE) -> Callable[[PaneState], Lattice]:
    return lambda pane: model.view.lattice(*size)


def finish(model: ViewerModel, begun: list[tuple[PaneState, str, RenderRequest | None]]) -> None:
    for pane, side, _ in begun:
        pane.sides[side].tile_shown(Tile(final=True), now=1.0)


def test_interpolation_sides_are_asked_for_first() -> None:
    model = model_with_image(methods=("bicubic", "nearest", "liif", "diinn"),
                             panes=("liif", "nearest", "diinn", "bicubic", "liif"))
    model.apply_view(model.view.with_zoom(8.0), PANE)
    begun = model.begin_renders(sizes(model), now=0.0)
    assert [r.method if r else "" for _, _, r in begun] == ["nearest", "bicubic", "liif", "diinn", "liif"]


def test_a_side_asked_again_for_the_same_lattice_keeps_its_render() -> None:
    model = model_with_image(panes=("bicubic", "liif"))
    first = model.begin_renders(sizes(model), now=0.0)
    assert len(first) == 2
    # Still rendering, or done: asked again for the same lattice, nothing new goes out.
    assert model.begin_renders(sizes(model), now=0.5) == []
    finish(model, first)
    assert model.begin_renders(sizes(model), now=2.0) == []
    assert all(p.sides[s].state == "done" for p, s, _ in first)
    # A pane added: only it is asked for.
    added = model.add_pane("liif")
    assert [p for p, _, _ in model.begin_renders(sizes(model), now=3.0)] == [added]


def test_what_makes_a_side_render_again_on_the_same_lattice() -> None:
    model = model_with_image(panes=("bicubic", "liif"))
    finish(model, model.begin_renders(sizes(model), now=0.0))
    bicubic, liif = model.panes

    def asked() -> list[PaneState]:
        return [p for p, _, _ in model.begin_renders(sizes(model), now=1.0)]

    model.set_method(liif, "a", "bicubic")  # the window clears the side's tiles
    assert asked() == [liif]
    model.weights_replaced("bicubic", "/w/bicubic.pth")
    assert set(asked()) == {bicubic, liif}
    liif.sides["a"].tile_failed("boom")  # an error is tried again
    assert asked() == [liif]
    finish(model, model.begin_renders(sizes(model), now=1.5))
    model.worker_restarted()  # a new worker has none of the old one's work
    assert set(asked()) == {bicubic, liif}
    model.apply_view(model.view.panned(10, 0), PANE)  # a pan moves every lattice
    assert set(asked()) == {bicubic, liif}


def test_a_resized_pane_refines_the_area_it_gained_and_is_never_back_to_a_preview() -> None:
    model = model_with_image(panes=("liif",))
    model.apply_view(model.view.with_zoom(4.0), PANE)
    finish(model, model.begin_renders(sizes(model), now=0.0))
    (pane, side, request), = model.begin_renders(sizes(model, (PANE[0] + 30, PANE[1])), now=1.0)
    assert request is not None and pane.sides[side].state == "refining"
    # At another zoom it is a new picture: a preview first.
    model.apply_view(model.view.with_zoom(5.0), PANE)
    (pane, side, _), = model.begin_renders(sizes(model), now=2.0)
    assert pane.sides[side].state == "preview"


def test_nothing_in_view_stays_done_without_asking_again() -> None:
    model = model_with_image(panes=("liif",))
    far = Lattice(2.0, 2.0, 10000.0, 10000.0, 50, 50)
    (_, _, request), = model.begin_renders(lambda p: far, now=0.0)
    assert request is None
    assert model.begin_renders(lambda p: far, now=1.0) == []
    assert model.panes[0].sides["a"].state == "done"
