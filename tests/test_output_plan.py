"""The one output plan (inference.output_plan.plan_output) that `main.py
upscale`, batch runs and the viewer's File › Export all make."""

from __future__ import annotations

import pytest

from inference.downscale import DOWNSCALE_METHOD, DOWNSCALE_NOTE
from inference.geometry import Lattice, Region
from inference.output_plan import PlanError, plan_output


def test_region_is_clipped_and_sized_by_scale() -> None:
    plan = plan_output("liif", width=20, height=10, region=(-2.0, 1.0, 8.0, 4.0), scale=3.0, source="a/b.png")
    assert plan.clipped and plan.region == Region(0.0, 1.0, 6.0, 4.0)
    assert plan.size == (18, 12) and plan.lattice == Lattice.from_region(plan.region, 18, 12)
    assert (plan.method, plan.note) == ("liif", "") and plan.metadata["Source"] == "b.png"
    assert "Note" not in plan.metadata


def test_whole_image_at_a_size_or_the_default_scale() -> None:
    assert plan_output("liif", width=20, height=10, size=(50, 30)).size == (50, 30)
    assert plan_output("liif", width=20, height=10).size == (80, 40)


def test_at_zoom_at_most_one_bicubic_draws_and_the_record_says_so() -> None:
    plan = plan_output("liif", width=20, height=10, scale=0.5, display="LIIF", extra={"Reference": "r"})
    assert plan.method == DOWNSCALE_METHOD and plan.asked == "liif" and plan.note == DOWNSCALE_NOTE
    assert list(plan.metadata) == ["Reference", "Note"]
    assert plan.metadata["Note"] == f"{DOWNSCALE_NOTE}; LIIF was asked for"


def test_the_viewer_lattice_is_kept_as_given() -> None:
    lattice = Lattice(2.85, 2.85, 9.0, 15.0, 57, 40)
    plan = plan_output("liif", lattice=lattice)
    assert plan.lattice is lattice and plan.method == "liif"


def test_refusals() -> None:
    with pytest.raises(PlanError, match="wholly outside"):
        plan_output("liif", width=20, height=10, region=(30.0, 0.0, 2.0, 2.0))
    with pytest.raises(PlanError, match="zoom of 200, over the limit of 128"):
        plan_output("liif", width=20, height=10, scale=200.0, max_zoom=128.0)
