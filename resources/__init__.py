"""The files shipped with Implicit Zoom (sample image, trained weights, their
licences in README.md), found through importlib.resources so that the same
code reads them from a source checkout and from an installed wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SAMPLE_IMAGE = ("images", "chelsea.png")
WEIGHTS = ("weights",)


def path(*parts: str) -> Path:
    """The file system path of the shipped resource `parts` (which need not
    exist, e.g. a weights file not trained yet). pip always installs wheels
    unpacked, so the package is a folder; a zipped install is refused rather
    than read through temporary copies."""
    location = files(__name__)
    for part in parts:  # one at a time: Python 3.10's joinpath takes one
        location = location.joinpath(part)
    if not isinstance(location, Path):
        raise RuntimeError(f"implicit-zoom's resources must be installed as files, not inside {location!r}")
    return location


def sample_image() -> Path:
    return path(*SAMPLE_IMAGE)


def weights_dir() -> Path:
    return path(*WEIGHTS)
