"""Golden exports: a fixed view of a fixed image, exported through the command
line with every method and fixed weights, must give exactly the stored pixels.

These files were written before the architecture refactor (issue 10), so a
refactor that claims "behaviour unchanged" can prove it. Regenerate them only
when a change of pixels is intended, and say so in the commit:

    python3 tests/test_golden.py --regenerate
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
INPUT = GOLDEN / "input.png"
# A view that is not aligned to anything: fractional origin, non-integer and
# unequal zoom in x and y (about 2.85 x 2.93).
REGION = "3.25,5.5,20,14"
SIZE = "57x41"
METHODS = ("bicubic", "liif", "ipe-liif", "diinn", "diif", "a-liif", "liif-siren")
# Recorded fields that do not depend on the pixels' provenance.
VOLATILE_FIELDS = {"Software"}

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def weights_file(method: str) -> Path | None:
    return None if method == "bicubic" else GOLDEN / f"{method}.safetensors"


def expected_file(method: str) -> Path:
    return GOLDEN / f"export-{method}.png"


def export_argv(method: str, output: Path) -> list[str]:
    argv = ["upscale", str(INPUT), "--method", method, f"--region={REGION}", "--size", SIZE,
            "--device", "cpu", "--quiet", "-o", str(output)]
    weights = weights_file(method)
    return argv + (["--weights", str(weights)] if weights else [])


def run_cli(argv: list[str]) -> int:
    import main

    try:
        return main.main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: the order of float sums (and so the 8-bit rounding) is then fixed."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("method", METHODS)
def test_export_of_fixed_view_is_byte_identical(method: str, tmp_path: Path, one_thread: None) -> None:
    from inference.imageio import read_metadata

    output = tmp_path / f"{method}.png"
    assert run_cli(export_argv(method, output)) == 0
    expected, got = np.asarray(Image.open(expected_file(method))), np.asarray(Image.open(output))
    assert got.shape == expected.shape == (41, 57, 3) and got.dtype == expected.dtype == np.uint8
    differ = int(np.count_nonzero(got != expected))
    assert got.tobytes() == expected.tobytes(), (
        f"{method}: {differ} channel values differ from the golden export (largest difference "
        f"{int(np.abs(got.astype(int) - expected.astype(int)).max())})")
    record, golden_record = read_metadata(output), read_metadata(expected_file(method))
    for key in VOLATILE_FIELDS:
        record.pop(key, None)
        golden_record.pop(key, None)
    assert record == golden_record


def test_golden_exports_tell_the_methods_apart() -> None:
    """The golden files are not blank or alike, so a changed decode would show in them."""
    arrays = {m: np.asarray(Image.open(expected_file(m))).astype(int) for m in METHODS}
    for method, rgb in arrays.items():
        assert rgb.std() > 2, f"{method}'s golden export is nearly flat"
    for i, a in enumerate(METHODS):
        for b in METHODS[i + 1:]:
            assert np.abs(arrays[a] - arrays[b]).mean() > 1, f"{a} and {b} golden exports are nearly the same"


def regenerate() -> None:
    """Write the input, the seeded toy-size weights and the expected exports."""
    import torch

    from inference import checkpoint, registry
    from tests.tiny_methods import TINY_ARGS, TINY_ENCODER, sample_image

    GOLDEN.mkdir(exist_ok=True)
    Image.fromarray((sample_image(24, 32, seed=10) * 255).round().astype(np.uint8)).save(INPUT)
    torch.set_num_threads(1)
    for method in METHODS:
        weights = weights_file(method)
        if weights is not None:
            torch.manual_seed(0)
            args = {"encoder_spec": TINY_ENCODER, **TINY_ARGS[method]}
            checkpoint.save(weights, registry.build(method, **args), method, args,
                            provenance={"data": "none: seeded random weights for the golden export test"})
        code = run_cli(export_argv(method, expected_file(method)))
        print(f"{method}: exit {code}, {expected_file(method).name}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit(__doc__)
    regenerate()
