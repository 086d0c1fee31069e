"""Which part of a pane shows the image: the rectangle, in the pane's physical
pixels, whose lattice points fall inside the image (what Edit › Copy View
copies, leaving out the background around the image). No Qt."""

from __future__ import annotations

import numpy as np

from inference.geometry import Lattice


def image_area(lattice: Lattice, image_w: int, image_h: int) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the image in a pane showing `lattice`, or None
    when none of it is in view."""
    rows, cols = lattice.inside_mask(image_w, image_h)
    if not rows.any() or not cols.any():
        return None
    ys, xs = np.flatnonzero(rows), np.flatnonzero(cols)
    return int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)
