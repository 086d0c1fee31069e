"""Which method a pane flips to (HandyView-style A/B in place), and what a side
shows once reference mode is left. No Qt."""

from __future__ import annotations

from inference.registry import BASELINE


def flip_partner(current: str, previous: str | None, offered: list[str], reference: str | None = None,
                 baseline: str = BASELINE) -> str | None:
    """The method to flip `current` to; None when there is nothing else.

    In reference mode (`reference`: the ground truth's name) F compares the
    pane's method with the ground truth, whatever was flipped before: a method
    flips to the ground truth, the ground truth back to the method the pane
    showed before it (`previous`). Otherwise: the method shown before, else the
    baseline, else the first other method offered."""
    if reference is not None and reference in offered and current != reference:
        return reference
    for candidate in (previous, baseline, *offered):
        if candidate and candidate != current and candidate != reference and candidate in offered:
            return candidate
    return None


def method_after_reference(current: str, before: str | None, reference: str, methods: list[str],
                           baseline: str = BASELINE) -> str:
    """What a side shows once reference mode is left: its method, or when it
    shows the ground truth (`reference`), the method it had before (`before`),
    else the baseline."""
    if current != reference:
        return current
    if before and before != reference and before in methods:
        return before
    return baseline
