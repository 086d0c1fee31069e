"""Reusable Qt widgets. Never import torch here: widgets show arrays, not models."""

from . import qt_compat  # noqa: F401  (binding work-arounds, before any Qt call)
