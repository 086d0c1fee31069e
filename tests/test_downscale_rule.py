"""At or below 1:1 the antialiased bicubic draws whatever method was asked
for, and the viewer's panes, its File › Export and `main.py upscale` agree on
it: the same pixels, and a note that says which method was asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.downscale import DOWNSCALE_METHOD, DOWNSCALE_NOTE, shown_method
from inference.imageio import load_image, read_metadata
from tests.test_cli import cli


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    return path



def test_the_rule() -> None:
    assert shown_method("liif", 0.5) == (DOWNSCALE_METHOD, DOWNSCALE_NOTE)
    assert shown_method("liif", 1.0, 1.0) == (DOWNSCALE_METHOD, DOWNSCALE_NOTE)
    assert shown_method("liif", 0.9, 1.2) == ("liif", "")  # enlarged on one axis: the model has work to do
    assert shown_method("liif", 1.01) == ("liif", "")
    assert shown_method("bicubic", 0.5) == ("bicubic", "")


def test_cli_below_1_to_1_writes_bicubic_and_says_so(photo: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    asked, baseline = tmp_path / "liif.png", tmp_path / "bicubic.png"
    assert cli("upscale", str(photo), "--method", "liif", "--scale", "0.5", "-o", str(asked)) == 0
    assert f"{DOWNSCALE_NOTE}; LIIF was asked for" in capsys.readouterr().err
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "0.5", "-o", str(baseline)) == 0
    assert load_image(asked).rgb.shape == (20, 24, 3)
    np.testing.assert_array_equal(np.asarray(Image.open(asked)), np.asarray(Image.open(baseline)))
    assert read_metadata(asked)["Note"] == f"{DOWNSCALE_NOTE}; LIIF was asked for"
    assert "Note" not in read_metadata(baseline)


def test_cli_above_1_to_1_still_uses_the_method(photo: Path, tmp_path: Path) -> None:
    asked, baseline = tmp_path / "liif.png", tmp_path / "bicubic.png"
    assert cli("upscale", str(photo), "--method", "liif", "--scale", "1.5", "-o", str(asked), "--quiet") == 0
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "1.5", "-o", str(baseline), "--quiet") == 0
    assert np.any(np.asarray(Image.open(asked)) != np.asarray(Image.open(baseline)))
    assert "Note" not in read_metadata(asked)


def test_viewer_export_below_1_to_1_equals_the_cli_output(qtbot, photo: Path, tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")
    from tests.gui_helpers import WAIT_MS, make_window, open_image

    from_cli = tmp_path / "cli.png"
    assert cli("upscale", str(photo), "--method", "liif", "--scale", "0.5", "-o", str(from_cli), "--quiet") == 0
    window = make_window(qtbot, tmp_path, ["liif"])
    assert open_image(qtbot, window, photo)
    from_viewer = tmp_path / "viewer.png"
    with qtbot.waitSignal(window.exportDone, timeout=WAIT_MS) as done:
        assert window.export_actions.export_to(str(from_viewer), "liif", area="whole", mode="scale", scale=0.5,
                                progress_dialog=False)
    assert done.args[0].ok, done.args[0].message
    np.testing.assert_array_equal(np.asarray(Image.open(from_viewer)), np.asarray(Image.open(from_cli)))
    assert read_metadata(from_viewer)["Note"] == read_metadata(from_cli)["Note"]
