"""Batch upscaling: the plan (names, skips, repeats), the engine (failures
collected, cancel), `main.py upscale` with several inputs or a folder, and
File › Upscale Folder in the viewer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.batch import expand_inputs, is_batch, plan_batch, run_batch
from inference.catalog import load_upscaler
from inference.imageio import read_metadata
from tests.test_cli import cli


def png(path: Path, h: int = 6, w: int = 8, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path



def test_plan_names_outputs_like_exports_skips_done_ones_and_separates_repeats(tmp_path: Path) -> None:
    a, b = png(tmp_path / "in" / "a.png"), png(tmp_path / "in" / "b.png")
    other_a = png(tmp_path / "other" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b_liif_x4.png").write_bytes(b"not an image")  # no output of b's: redone, not "already done"
    items = plan_batch([a, b, other_a], out, "liif", 4.0)
    assert [i.output.name for i in items] == ["a_liif_x4.png", "b_liif_x4.png", "a_liif_x4-2.png"]
    assert [i.done_already for i in items] == [False, False, False]
    assert plan_batch([a], out, "bicubic", None, (64, 48))[0].output.name == "a_bicubic_64x48.png"


def test_inputs_expand_folders_in_order_and_report_what_is_missing(tmp_path: Path) -> None:
    png(tmp_path / "f" / "img10.png"), png(tmp_path / "f" / "img2.png")
    (tmp_path / "f" / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    sources, problems = expand_inputs([tmp_path / "f", tmp_path / "f" / "img2.png", tmp_path / "gone.png",
                                       tmp_path / "empty"])
    assert [p.name for p in sources] == ["img2.png", "img10.png"]
    assert [(p.name, why) for p, why in problems] == [("gone.png", "no such file or folder"),
                                                      ("empty", "no images in this folder")]
    assert is_batch(["a.png", "b.png"], "x") and is_batch([str(tmp_path / "f")], "x.png")
    assert is_batch(["a.png"], "out/") and not is_batch(["a.png"], "out.png")


def test_engine_goes_on_after_a_bad_image_and_stops_on_cancel(tmp_path: Path) -> None:
    good = png(tmp_path / "a.png")
    bad = tmp_path / "b.png"
    bad.write_text("not an image")
    last = png(tmp_path / "c.png", seed=1)
    up = load_upscaler("bicubic", "cpu")
    items = plan_batch([good, bad, last], tmp_path / "out", "bicubic", 2.0)
    (tmp_path / "out").mkdir()
    report = run_batch(items, up, scale=2.0, size=None)
    assert [p.name for p in report.written] == ["a_bicubic_x2.png", "c_bicubic_x2.png"]
    assert [p.name for p, _ in report.failed] == ["b.png"] and "b.png" in report.failed[0][1]
    with Image.open(report.written[0]) as im:
        assert im.size == (16, 12)
    meta = read_metadata(report.written[0])
    assert meta["Source"] == "a.png" and meta["SourcePath"] == str(good.resolve())
    # Cancelled at the first tile of the first image to do: nothing more is written.
    again = plan_batch([good, last], tmp_path / "out2", "bicubic", 3.0)
    (tmp_path / "out2").mkdir()
    stopped = run_batch(again, up, scale=3.0, size=None, cancel=lambda: True)
    assert stopped.cancelled and not stopped.written and not any((tmp_path / "out2").iterdir())


def test_cli_upscales_a_folder_and_more_files_into_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    png(tmp_path / "photos" / "a.png"), png(tmp_path / "photos" / "b.png", seed=2)
    extra = png(tmp_path / "extra.png", seed=3)
    out = tmp_path / "up"
    assert cli("upscale", str(tmp_path / "photos"), str(extra), "--method", "bicubic", "--scale", "2",
               "-o", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_bicubic_x2.png", "b_bicubic_x2.png", "extra_bicubic_x2.png"]
    first = (out / "a_bicubic_x2.png").stat().st_mtime_ns
    capsys.readouterr()
    (tmp_path / "photos" / "c.png").write_text("broken")
    assert cli("upscale", str(tmp_path / "photos"), "--method", "bicubic", "--scale", "2", "-o", str(out)) == 1
    captured = capsys.readouterr()
    assert (out / "a_bicubic_x2.png").stat().st_mtime_ns == first  # done before: skipped, not redone
    assert "skipped" in captured.out and "c.png" in captured.err and "Traceback" not in captured.err
    assert "0 written, 2 skipped (already done), 1 failed" in captured.err


def test_cli_batch_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = png(tmp_path / "a.png"), png(tmp_path / "b.png")
    file_out = png(tmp_path / "taken.png")
    assert cli("upscale", str(a), str(b), "-o", str(file_out)) == 2
    assert cli("upscale", str(a), str(b), "--region", "0,0,2,2", "-o", str(tmp_path / "o")) == 2
    assert cli("upscale", str(tmp_path / "none"), str(tmp_path / "none2"), "-o", str(tmp_path / "o")) == 1
    err = capsys.readouterr().err
    assert "is a file" in err and "--region is for one image" in err and "no images to upscale" in err
    assert "Traceback" not in err


def test_upscale_folder_in_the_viewer_writes_skips_and_sums_up(qtbot, tmp_path: Path) -> None:
    from app.batch_dialog import BatchDialog, BatchSpec, summary_text
    from tests.gui_helpers import WAIT_MS, make_window

    folder = tmp_path / "photos"
    png(folder / "a.png"), png(folder / "b.png", seed=1)
    (folder / "c.png").write_text("broken")
    (folder / "d.ppm").write_bytes(b"P6\n1 1\n255\n\0\0\0")  # not read: named as such, like the command line does
    out = tmp_path / "out"
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    dialog = BatchDialog([("bicubic", "Bicubic"), ("liif", "LIIF (untrained)")], "liif", str(folder), str(out))
    qtbot.addWidget(dialog)
    assert "3 image(s)" in dialog.note.text() and "a_liif_x4.png" in dialog.note.text()
    dialog.scale.setValue(2.0)
    spec = dialog.spec()
    assert spec == BatchSpec(str(folder), "liif", 2.0, None, str(out))
    with qtbot.waitSignal(window.batchFinished, timeout=WAIT_MS) as blocker:
        window.service_actions.start_batch(spec, interactive=False)
    report = blocker.args[0]
    assert sorted(p.name for p in out.iterdir()) == ["a_liif_x2.png", "b_liif_x2.png"]
    assert [p.name for p, _ in report.failed] == ["d.ppm", "c.png"]
    assert "c.png" in summary_text(report) and "PPM" in summary_text(report)
    assert "2 failed" in window.statusBar().currentMessage()
    with Image.open(out / "a_liif_x2.png") as im:
        assert im.size == (16, 12)
    # Again: what is done is skipped.
    with qtbot.waitSignal(window.batchFinished, timeout=WAIT_MS) as blocker:
        window.service_actions.start_batch(spec, interactive=False)
    assert len(blocker.args[0].skipped) == 2 and not blocker.args[0].written
    dialog.folder.setText(str(tmp_path / "nowhere"))
    assert not dialog.ok_button.isEnabled()


def test_cancel_stops_the_batch_and_writes_nothing_more(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from app.batch_dialog import BatchSpec
    from tests.gui_helpers import WAIT_MS, make_window

    folder = tmp_path / "photos"
    for i in range(3):
        png(folder / f"{i}.png", seed=i)
    window = make_window(qtbot, tmp_path, ["bicubic"])
    gate = threading.Event()
    real = window.service_actions.batch_upscaler

    def slow(method):  # holds the batch until the test has pressed cancel
        gate.wait(30)
        return real(method)

    monkeypatch.setattr(window.service_actions, "batch_upscaler", slow)
    with qtbot.waitSignal(window.batchFinished, timeout=WAIT_MS) as blocker:
        runner = window.service_actions.start_batch(BatchSpec(str(folder), "bicubic", 2.0, None, str(tmp_path / "out")),
                                    interactive=False)
        runner.cancel()
        gate.set()
    assert blocker.args[0].cancelled and not blocker.args[0].written
    assert not any((tmp_path / "out").iterdir())


def test_batch_below_one_to_one_draws_bicubic_like_the_single_image_command(tmp_path: Path) -> None:
    """A folder shrunk to half size gives bicubic's pixels whatever method was
    asked, says so in each file, and agrees with `upscale` of one image."""
    source = png(tmp_path / "a.png", seed=4)
    asked = load_upscaler("liif", "cpu")
    items = plan_batch([source], tmp_path / "out", "liif", 0.5)
    (tmp_path / "out").mkdir()
    report = run_batch(items, asked, scale=0.5, size=None)
    bicubic_items = plan_batch([source], tmp_path / "ref", "bicubic", 0.5)
    (tmp_path / "ref").mkdir()
    run_batch(bicubic_items, load_upscaler("bicubic", "cpu"), scale=0.5, size=None)
    single = tmp_path / "single.png"
    assert cli("upscale", str(source), "--method", "liif", "--scale", "0.5", "-o", str(single), "--quiet") == 0
    written = np.asarray(Image.open(report.written[0]))
    assert np.array_equal(written, np.asarray(Image.open(bicubic_items[0].output)))
    assert np.array_equal(written, np.asarray(Image.open(single)))
    note = read_metadata(report.written[0]).get("Note", "")
    assert "bicubic" in note and asked.display in note


def test_cli_batch_takes_the_precision_asked_for(tmp_path: Path) -> None:
    png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    assert cli("upscale", str(tmp_path / "in"), "--method", "liif", "--scale", "2", "--precision", "fp32",
               "-o", str(out), "--quiet") == 0
    (written,) = out.iterdir()
    assert read_metadata(written).get("Precision", "fp32") == "fp32"
    if load_upscaler("liif", "cpu").precision != "fp32":  # bf16 is the default where the CPU runs it natively
        auto = tmp_path / "auto"
        assert cli("upscale", str(tmp_path / "in"), "--method", "liif", "--scale", "2", "-o", str(auto),
                   "--quiet") == 0
        assert read_metadata(next(auto.iterdir())).get("Precision") == load_upscaler("liif", "cpu").precision
