"""Which method a pane flips to (HandyView-style A/B in place). No Qt."""

from __future__ import annotations

from inference.registry import BASELINE


def flip_partner(current: str, previous: str | None, offered: list[str], reference: str | None = None,
                 baseline: str = BASELINE) -> str | None:
    """The method to flip `current` to: the one the pane showed before it, else
    the ground truth (`reference`, in reference mode), else the baseline, else
    the first other method offered; None when there is nothing else."""
    for candidate in (previous, reference, baseline, *offered):
        if candidate and candidate != current and candidate in offered:
            return candidate
    return None
