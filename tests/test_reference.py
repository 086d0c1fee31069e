"""Reference mode's scoring, Qt-free: the visible region's score agrees with
the whole-image score when the region is the whole image, stops when asked,
and is None for a region that covers no HR pixel."""

from __future__ import annotations

import numpy as np
import pytest

from inference.catalog import load_upscaler
from inference.piecewise import Cancelled
from inference.reference import make_reference, visible_score, whole_image_score


def _reference() -> tuple:
    rng = np.random.default_rng(3)
    image = (rng.random((48, 40, 3)) * 255).astype(np.uint8)
    ref = make_reference(image, 2.0)
    up = load_upscaler("bicubic", "cpu")
    return ref, up, up.encode(ref.lr)


def test_visible_score_of_the_whole_image_is_the_whole_image_score() -> None:
    ref, up, features = _reference()
    w, h = ref.lr_size
    visible = visible_score(up, features, ref, (0.0, 0.0, float(w), float(h)))
    assert visible is not None and visible.window == (0, 0, *ref.hr_size)
    assert visible.hr_zoom == (2.0, 2.0)
    psnr, ssim = whole_image_score(up, ref)
    assert visible.score.psnr == pytest.approx(psnr, abs=1e-9)
    assert visible.score.ssim == pytest.approx(ssim, abs=1e-9)
    assert visible.score.error_map is not None and visible.score.error_map.shape[:2] == ref.hr.shape[:2]


def test_visible_score_stops_when_asked_and_covers_nothing_outside() -> None:
    ref, up, features = _reference()
    with pytest.raises(Cancelled):
        visible_score(up, features, ref, (0.0, 0.0, 10.0, 10.0), should_stop=lambda: True)
    assert visible_score(up, features, ref, (50.0, 50.0, 60.0, 60.0)) is None
