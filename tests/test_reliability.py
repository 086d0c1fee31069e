"""Reliability as the viewer's user meets it: hostile image files, unusable
checkpoints, faults in the middle of a decode or an export. Every case ends
in the right image or one clear message; nothing crashes, nothing already on
screen or on disk is lost."""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Container
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

import torch
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.main_window import MainWindow
from inference import checkpoint, imageio, registry
from inference.render import MAX_ZOOM, ViewState, to_display
from tests import gui_helpers
from tests.gui_helpers import WAIT_MS, assert_pane_shows_the_view, open_image, wait_done, write_png
from tests.tiny_methods import TINY_LIIF_ARGS, sample_image, tiny_liif, tiny_loader

# ---------------------------------------------------------------- helpers

# The shared window helper, at these tests' own default size (the viewer tests' is 900 x 600).
make_window = functools.partial(gui_helpers.make_window, size=(700, 420))


class Dialogs:
    """QMessageBox.warning/critical/information replaced: records (title, text) instead of blocking."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shown: list[tuple[str, str]] = []
        for kind in ("warning", "critical", "information"):
            monkeypatch.setattr(QMessageBox, kind, self._record)

    def _record(self, parent, title, text, *args, **kwargs):
        self.shown.append((str(title), str(text)))
        return QMessageBox.StandardButton.Ok


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


# ---------------------------------------------------------------- hostile image files

def _animated(path: Path, fmt: str) -> None:
    frames = [Image.new("RGB", (6, 4), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)


def _exif_rotated(path: Path) -> None:
    stored = np.zeros((4, 8, 3), np.uint8)
    stored[:, :4] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, "JPEG", quality=98, exif=exif)


def _palette(path: Path) -> None:
    image = Image.new("P", (5, 3))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(path, transparency=1)


def _sixteen_bit(path: Path) -> None:
    samples = np.random.default_rng(1).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    raw = samples.astype(">u2").reshape(6, -1).view(np.uint8)
    rows = np.hstack((np.zeros((6, 1), np.uint8), raw))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 6, 16, 2, 0, 0, 0))
                     + png_chunk(b"IDAT", zlib.compress(rows.tobytes())) + png_chunk(b"IEND", b""))


def _truncated(path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, fmt)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def _bomb(path: Path) -> None:
    # The header claims 100000 x 100000 pixels; there is almost no data.
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + png_chunk(b"IEND", b""))


def _short_rows(path: Path, width: int, height: int, present: int) -> None:
    rows = np.random.default_rng(5).integers(0, 256, (present, width * 3), dtype=np.uint8)
    raw = np.hstack((np.zeros((present, 1), np.uint8), rows)).tobytes()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


# name -> (writer, expected (width, height) or None for refused, words the dialog / status bar must hold)
HOSTILE = {
    "empty.png": (lambda p: p.write_bytes(b""), None, "empty"),
    "truncated.png": (lambda p: _truncated(p, "PNG"), None, "truncated"),
    "truncated.jpg": (lambda p: _truncated(p, "JPEG"), None, "truncated"),
    "notes.png": (lambda p: p.write_text("my notes, not a picture\n"), None, "not an image"),
    "bomb.png": (_bomb, None, "over the limit of 200 megapixels"),
    # Round two: 64 rows declared, 8 present in a well-formed stream (Pillow zero-fills the rest).
    "eight-rows.png": (lambda p: _short_rows(p, 64, 64, 8), None, "holds 8 of the 64 rows"),
    "folder.png": (lambda p: p.mkdir(), None, "folder"),
    "jpeg-named.png": (lambda p: Image.new("RGB", (9, 7), (200, 40, 40)).save(p, "JPEG"), (9, 7), "JPEG data"),
    "one.png": (lambda p: Image.new("RGB", (1, 1), (0, 128, 255)).save(p), (1, 1), ""),
    "column.png": (lambda p: Image.new("RGB", (1, 10000), (0, 128, 255)).save(p), (1, 10000), ""),
    "row.png": (lambda p: Image.new("RGB", (10000, 1), (0, 128, 255)).save(p), (10000, 1), ""),
    "deep.png": (_sixteen_bit, (5, 6), "16-bit"),
    "grey.png": (lambda p: Image.new("L", (7, 5), 64).save(p), (7, 5), "grayscale"),
    "cmyk.jpg": (lambda p: Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(p, "JPEG"), (8, 8), "CMYK"),
    "palette.png": (_palette, (5, 3), "neutral grey"),
    "anim.gif": (lambda p: _animated(p, "GIF"), (6, 4), "first frame of 3"),
    "anim.webp": (lambda p: _animated(p, "WEBP"), (6, 4), "first frame of 3"),
    "camera.jpg": (_exif_rotated, (4, 8), "EXIF orientation applied"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_shows_the_image_or_a_dialog_and_keeps_the_previous(
        name: str, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer, size, words = HOSTILE[name]
    good = write_png(tmp_path / "good.png", sample_image(20, 24))
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    assert open_image(qtbot, window, good)
    wait_done(qtbot, window)
    dialogs = Dialogs(monkeypatch)
    before_id, before_rgb = window.model.image_id, window.model.image_rgb.copy()
    path = tmp_path / name
    writer(path)
    opened = open_image(qtbot, window, path)
    if size is None:
        assert not opened
        assert len(dialogs.shown) == 1 and words in dialogs.shown[0][1] and name in dialogs.shown[0][1]
        assert "Traceback" not in dialogs.shown[0][1]
        # The previous image is still there, and still being shown.
        assert window.model.image_id == before_id and window.model.loaded.path == str(good)
        np.testing.assert_array_equal(window.model.image_rgb, before_rgb)
        assert all(p.source() is not None and p.source().width == 24 for p in window.panes())
    else:
        assert opened and not dialogs.shown
        assert window.model.image_rgb.shape[:2] == (size[1], size[0])
        assert window.fields.image_label.text().startswith(f"{size[0]} \u00d7 {size[1]} px")
        assert words in window.statusBar().currentMessage()
        wait_done(qtbot, window)
        assert_pane_shows_the_view(window)
    assert window.file_actions.recent_files()[0] == str((path if size else good).resolve())
    window.grab()  # paints without raising


@pytest.mark.parametrize("size", [(1, 1), (1, 10000), (10000, 1)])
def test_degenerate_images_zoom_pan_and_render_in_every_pane(size: tuple[int, int], qtbot, tmp_path: Path) -> None:
    path = tmp_path / "odd.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "liif"])
    assert open_image(qtbot, window, path)
    window.slots()[1].picker.set_split_method("bicubic")
    lo, hi = window.zoom_slider.minimum(), window.zoom_slider.maximum()
    assert 0 < lo <= hi == MAX_ZOOM
    for step in (lambda: window.set_zoom(hi * 4), lambda: window.set_zoom(1e-9), window.fit,
                 lambda: window.set_zoom(1.0), lambda: window.zoom_by(7.3),
                 lambda: window.apply_view(window.model.view.panned(1e6, -1e6)),
                 lambda: window.apply_view(ViewState(-5e9, 5e9, 3.0)),
                 lambda: window.panes()[2].zoom_by(0.5),
                 lambda: window.set_zoom(MAX_ZOOM)):
        step()
        assert lo <= window.model.view.zoom <= hi
        assert 0 <= window.model.view.cx <= size[0] and 0 <= window.model.view.cy <= size[1]
        wait_done(qtbot, window)
        assert_pane_shows_the_view(window)
        window.grab()
    for zoom in (window.model.view.zoom, 1.0):
        window.set_zoom(zoom)
        wait_done(qtbot, window)
        assert_pane_shows_the_view(window)
        assert all(p.composed()[1].any() for p in window.panes())  # something of the image is decoded


# ---------------------------------------------------------------- File > Load Weights


def tiny_checkpoint(path: Path, seed: int = 1, method: str = "liif") -> Path:
    torch.manual_seed(seed)
    model = registry.build("liif", **TINY_LIIF_ARGS)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A Set5 x4 figure over the trained floor: these weights count as trained.
    checkpoint.save(path, model, method, TINY_LIIF_ARGS, provenance={"data": "unit test", "steps": seed},
                    metrics={"psnr_y/Set5/x4": 31.0})
    return path


def tampered(good: Path, out: Path, change) -> Path:
    from safetensors.torch import load_file, save_file

    tensors, meta = change(load_file(str(good)), checkpoint.read_metadata(good))
    save_file(tensors, str(out), metadata=meta)
    return out


def evil_pickle(path: Path, marker: Path) -> Path:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": Evil()}, path)
    return path


def load_weights(qtbot, window: MainWindow, path: Path) -> tuple[str, str]:
    with qtbot.waitSignal(window.weightsChanged, timeout=WAIT_MS) as blocker:
        window.service_actions.load_weights(path)
    return tuple(blocker.args)


def shown_pixels(qtbot, window: MainWindow, index: int) -> np.ndarray:
    wait_done(qtbot, window)
    image, mask = window.panes()[index].composed()
    assert mask.any()
    return image


def direct_pixels(window: MainWindow, index: int, weights: Path) -> np.ndarray:
    from inference.catalog import load_upscaler

    up = load_upscaler("liif", "cpu", weights=weights)
    lattice = window.panes()[index].lattice()
    h, w = window.model.image_rgb.shape[:2]
    rows, cols = lattice.inside_mask(w, h)
    return to_display(up.decode_lattice(up.encode(window.model.image_rgb), lattice)) * np.outer(rows, cols)[..., None]


def assert_close_pixels(a: np.ndarray, b: np.ndarray) -> None:
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # at most a rounding flip


def test_load_weights_applies_to_the_declared_method_and_a_bad_file_keeps_the_old(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(6.0)
    wait_done(qtbot, window)
    assert window.slots()[1].sides["a"].state == "untrained"
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    # Through the menu: File > Load Weights... with the file dialog answered.
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(good), ""))
    with qtbot.waitSignal(window.weightsChanged, timeout=WAIT_MS) as blocker:
        window.acts.load_weights_action.trigger()
    assert blocker.args == ["liif", str(good)]
    wait_done(qtbot, window)
    slot = window.slots()[1]
    assert slot.sides["a"].state == "done"  # trained now
    assert "untrained" not in " ".join(slot.pane.label_lines())
    assert "good.safetensors" in window.statusBar().currentMessage()
    assert "(untrained)" not in slot.picker.combo.currentText()
    before = shown_pixels(qtbot, window, 1)
    assert_close_pixels(before, direct_pixels(window, 1, good))
    upscaler = window.service.worker._upscalers["liif"]

    dialogs = Dialogs(monkeypatch)
    marker = tmp_path / "pwned"
    bad = {
        "evil.pth": (evil_pickle(tmp_path / "evil.pth", marker), "weights-only"),
        "missing": (tampered(good, tmp_path / "missing.safetensors",
                             lambda t, m: ({k: v for k, v in t.items() if k != "imnet.layers.0.weight"}, m)),
                    "'imnet.layers.0.weight' is missing"),
        "extra": (tampered(good, tmp_path / "extra.safetensors",
                           lambda t, m: ({**t, "imnet.extra": torch.zeros(2)}, m)),
                  "unexpected tensor 'imnet.extra'"),
        "shape": (tampered(good, tmp_path / "shape.safetensors",
                           lambda t, m: ({**t, "imnet.layers.0.weight": torch.zeros(16, 7)}, m)),
                  "has shape (16, 7)"),
        "unknown method": (tampered(good, tmp_path / "warp.safetensors",
                                    lambda t, m: (t, {**m, "method": "warp-drive"})),
                           "unknown method 'warp-drive'"),
        "not offered": (tiny_checkpoint(tmp_path / "other.safetensors", method="diinn"), "does not offer"),
        "bad args": (tampered(good, tmp_path / "args.safetensors", lambda t, m: (t, {**m, "args": "[1, 2]"})),
                     "'args' should be a JSON object"),
        "nan": (tampered(good, tmp_path / "nan.safetensors",
                         lambda t, m: ({**t, "imnet.layers.0.bias": torch.full_like(t["imnet.layers.0.bias"],
                                                                                     np.nan)}, m)),
                "'imnet.layers.0.bias' holds NaN"),
        "negative size": (tampered(good, tmp_path / "negative.safetensors",
                                   lambda t, m: (t, {**m, "args": json.dumps({**TINY_LIIF_ARGS, "hidden": [-5]})})),
                          "negative dimension"),
        "foreign": (tampered(good, tmp_path / "foreign.safetensors", lambda t, m: (t, {})),
                    "not an Implicit Zoom checkpoint"),
        "truncated": (tmp_path / "cut.safetensors", "not a readable safetensors file"),
        "text": (tmp_path / "notes.safetensors", "not a readable safetensors file"),
        "missing file": (tmp_path / "gone.safetensors", "no such file"),
        # Round two: metadata that raised inside two Qt slots (no dialog, status bar stuck), or never finished.
        "provenance list": (tampered(good, tmp_path / "plist.safetensors",
                                     lambda t, m: (t, {**m, "provenance": "[1]"})),
                            "'provenance' should be a JSON object"),
        "provenance string": (tampered(good, tmp_path / "pstr.safetensors",
                                       lambda t, m: (t, {**m, "provenance": '"x"'})),
                              "'provenance' should be a JSON object"),
        "nested": (tampered(good, tmp_path / "nested.safetensors",
                            lambda t, m: (t, {**m, "args": "[" * 10000 + "]" * 10000})), "nested too deeply"),
        "a billion blocks": (tampered(good, tmp_path / "billion.safetensors", lambda t, m: (t, {**m, "args": json.dumps(
            {**TINY_LIIF_ARGS, "encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 10**9}}})})),
                             "over the limit of 256"),
        "complex": (tampered(good, tmp_path / "complex.safetensors",
                             lambda t, m: ({**t, "imnet.layers.0.bias":
                                            t["imnet.layers.0.bias"].to(torch.complex64)}, m)),
                    "complex numbers"),
        "folder": (tmp_path / "a-folder.safetensors", "is a folder"),
    }
    (tmp_path / "a-folder.safetensors").mkdir()
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "notes.safetensors").write_text("not weights")
    for case, (path, words) in bad.items():
        dialogs.shown.clear()
        assert load_weights(qtbot, window, path) == ("", str(path)), case
        assert len(dialogs.shown) == 1, case
        title, text = dialogs.shown[0]
        assert title == "Cannot load weights" and words in text and path.name in text, (case, text)
        assert "Traceback" not in text and "keeps the weights it had" in text
        assert window.service.worker._upscalers["liif"] is upscaler, case
        assert window.statusBar().currentMessage().startswith("Weights not loaded"), case  # not stuck on "Loading"
    assert not marker.exists()
    # Still usable with the good weights: a new view decodes, and back again shows the same pixels.
    window.set_zoom(9.0)
    wait_done(qtbot, window)
    assert window.slots()[1].sides["a"].state == "done"
    window.set_zoom(6.0)
    assert_close_pixels(shown_pixels(qtbot, window, 1), before)


def test_other_weights_of_the_same_file_name_are_not_served_from_the_cache(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(5.0)
    first = tiny_checkpoint(tmp_path / "a" / "liif.safetensors", seed=1)
    second = tiny_checkpoint(tmp_path / "b" / "liif.safetensors", seed=2)
    assert load_weights(qtbot, window, first)[0] == "liif"
    a_pixels = shown_pixels(qtbot, window, 0)
    assert_close_pixels(a_pixels, direct_pixels(window, 0, first))
    assert load_weights(qtbot, window, second)[0] == "liif"
    b_pixels = shown_pixels(qtbot, window, 0)
    assert np.abs(a_pixels.astype(int) - b_pixels.astype(int)).max() > 8  # other weights, other pixels
    assert_close_pixels(b_pixels, direct_pixels(window, 0, second))


def test_checkpoint_declaring_a_huge_model_is_refused_before_memory_is_taken(tmp_path: Path) -> None:
    """Arguments within every per-value bound (64 layers of 4096: the widest and
    deepest allowed) still declare 4.3 GB of weights the file does not hold;
    run under an address-space limit so that such an allocation fails instead
    of bringing the machine down. (Beyond the bounds, e.g. "hidden": [60000],
    the arguments are refused before anything is built: test_checkpoint.py.)"""
    import subprocess
    import sys

    good = tiny_checkpoint(tmp_path / "good.safetensors")
    huge = tampered(good, tmp_path / "huge.safetensors",
                    lambda t, m: (t, {**m, "args": json.dumps({**TINY_LIIF_ARGS, "hidden": [4096] * 64})}))
    code = f"""
import os, resource, sys
from inference import checkpoint
ck = checkpoint.load({str(huge)!r})
with open("/proc/self/statm") as f:
    used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (used + (2 << 30), resource.RLIM_INFINITY))
try:
    ck.build()
except checkpoint.CheckpointError as error:
    print("refused:", error)
except BaseException as error:
    print("crashed:", type(error).__name__, error)
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith("refused: weights do not fit the declared architecture"), done.stdout + done.stderr


def test_public_liif_pth_is_applied_to_liif(qtbot, tmp_path: Path) -> None:
    from tests.test_checkpoint import public_liif_state_dict, write_public_liif

    path = tmp_path / "edsr-baseline-liif.pth"
    write_public_liif(path, public_liif_state_dict())
    window = make_window(qtbot, tmp_path, ["liif"], size=(300, 240))
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(8, 10)))
    assert load_weights(qtbot, window, path) == ("liif", str(path))
    wait_done(qtbot, window)
    # Applied (its provenance is known), but a .pth holds no figure measured
    # here, so the pane finishes marked as not a result rather than "done".
    assert window.slots()[0].sides["a"].state == "untrained"
    summary = window.model.book.weights_known["liif"].summary
    assert "DIV2K" in summary and "not evaluated" in summary


# ---------------------------------------------------------------- faults mid-decode


def cuda_out_of_memory() -> BaseException:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 7.79 GiB total)")


class OutOfMemoryOnCall:
    """`up.model.decode_window` that runs out of memory (`error()`) on the given call numbers (1-based)."""

    def __init__(self, up, failing: Container[int],
                 error: Callable[[], BaseException] = cuda_out_of_memory) -> None:
        self.real, self.failing, self.error, self.calls = up.model.decode_window, failing, error, 0

    def __call__(self, window, block):
        self.calls += 1
        if self.calls in self.failing:
            raise self.error()
        return self.real(window, block)


@pytest.mark.parametrize("error", [
    cuda_out_of_memory, lambda: RuntimeError("CUDA error: out of memory"),
    # The CPU's allocator under a process memory limit (ulimit -v, a container's memory.max): halved too.
    lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: can't allocate memory: "
                         "you tried to allocate 3221225472 bytes. Error code 12 (Cannot allocate memory)"),
    lambda: MemoryError(),
])
def test_out_of_memory_mid_decode_halves_the_chunk_and_completes(error, monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.geometry import Lattice

    up = tiny_liif()
    image = sample_image(12, 14)
    features = up.encode(image)
    lattice = Lattice.full_image(14, 12, 7.3)  # 102 x 88 points
    up.chunk = 4096
    clean = up.decode_lattice(features, lattice)
    monkeypatch.setattr(up.model, "decode_window", OutOfMemoryOnCall(up, {1, 2}, error))
    done: list[int] = []
    out = up.decode_lattice(features, lattice, progress=lambda row, rows: done.append(row))
    assert up.chunk == 1024  # halved twice
    np.testing.assert_allclose(out, clean, atol=1e-6)
    assert done[-1] == 88 and done == sorted(done)


def test_out_of_memory_at_the_smallest_chunk_is_a_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.geometry import Lattice
    from inference.upscaler import MIN_CHUNK, DecodeError

    up = tiny_liif()
    features = up.encode(sample_image(6, 7))

    def always(window, block):
        raise cuda_out_of_memory()

    monkeypatch.setattr(up.model, "decode_window", always)
    with pytest.raises(DecodeError, match=f"out of memory even at {MIN_CHUNK} points"):
        up.decode_lattice(features, Lattice.full_image(7, 6, 3.0))
    # Other errors are not mistaken for memory: they pass through unchanged.
    monkeypatch.setattr(up.model, "decode_window", lambda w, b: (_ for _ in ()).throw(ValueError("bad block")))
    with pytest.raises(ValueError, match="bad block"):
        up.decode_lattice(features, Lattice.full_image(7, 6, 3.0))


def test_after_a_transient_out_of_memory_clean_decodes_restore_the_configured_chunk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.geometry import Lattice
    from inference.upscaler import RECOVER_AFTER_DECODES

    up = tiny_liif()
    features = up.encode(sample_image(12, 14))
    lattice = Lattice.full_image(14, 12, 7.3)  # 102 x 88 points: several chunks of 4096
    up.chunk = 4096
    budget = up.prepare_budget_bytes
    clean = up.decode_lattice(features, lattice)
    oom = OutOfMemoryOnCall(up, {1})
    monkeypatch.setattr(up.model, "decode_window", oom)
    out = up.decode_lattice(features, lattice)
    assert (up.chunk, up.prepare_budget_bytes) == (2048, budget // 2)
    np.testing.assert_array_equal(out, clean)
    # The decode that ran out does not count; each later one does.
    for _ in range(RECOVER_AFTER_DECODES - 1):
        np.testing.assert_array_equal(up.decode_lattice(features, lattice), clean)
    assert up.chunk == 2048
    np.testing.assert_array_equal(up.decode_lattice(features, lattice), clean)
    assert (up.chunk, up.prepare_budget_bytes) == (4096, budget)
    # Back at the configured size it stays there: never above.
    for _ in range(RECOVER_AFTER_DECODES + 1):
        up.decode_lattice(features, lattice)
    assert (up.chunk, up.prepare_budget_bytes) == (4096, budget) and oom.calls > 2 * RECOVER_AFTER_DECODES


def test_recovery_is_one_step_at_a_time_and_running_out_again_halves_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.geometry import Lattice
    from inference.upscaler import RECOVER_AFTER_DECODES

    up = tiny_liif()
    features = up.encode(sample_image(12, 14))
    lattice = Lattice.full_image(14, 12, 7.3)
    up.chunk = 4096
    clean = up.decode_lattice(features, lattice)
    oom = OutOfMemoryOnCall(up, {1, 2})
    monkeypatch.setattr(up.model, "decode_window", oom)
    np.testing.assert_array_equal(up.decode_lattice(features, lattice), clean)
    assert up.chunk == 1024
    seen = []
    for _ in range(RECOVER_AFTER_DECODES):
        up.decode_lattice(features, lattice)
        seen.append(up.chunk)
    assert seen == [1024] * (RECOVER_AFTER_DECODES - 1) + [2048]
    # Memory is short again at 2048: halved again, and the count starts over.
    oom.failing = {oom.calls + 1}
    np.testing.assert_array_equal(up.decode_lattice(features, lattice), clean)
    assert up.chunk == 1024
    for _ in range(RECOVER_AFTER_DECODES - 1):
        up.decode_lattice(features, lattice)
    assert up.chunk == 1024
    for _ in range(RECOVER_AFTER_DECODES + 1):
        up.decode_lattice(features, lattice)
    assert up.chunk == 4096
    # Setting the chunk configures it: later recovery never goes above it.
    up.chunk = 2048
    oom.failing = {oom.calls + 1}
    up.decode_lattice(features, lattice)
    for _ in range(2 * RECOVER_AFTER_DECODES):
        up.decode_lattice(features, lattice)
    assert (up.chunk, up.configured_chunk) == (2048, 2048)


def test_a_permanent_out_of_memory_still_fails_after_a_recovered_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.geometry import Lattice
    from inference.upscaler import MIN_CHUNK, RECOVER_AFTER_DECODES, DecodeError

    up = tiny_liif()
    features = up.encode(sample_image(6, 7))
    lattice = Lattice.full_image(7, 6, 3.0)
    up.chunk = 1024
    oom = OutOfMemoryOnCall(up, {1})
    monkeypatch.setattr(up.model, "decode_window", oom)
    for _ in range(RECOVER_AFTER_DECODES + 1):
        up.decode_lattice(features, lattice)
    assert up.chunk == 1024
    oom.failing = range(oom.calls + 1, 1 << 30)  # from now on
    with pytest.raises(DecodeError, match=f"LIIF: out of memory even at {MIN_CHUNK} points per chunk"):
        up.decode_lattice(features, lattice)
    # Failed decodes are not clean ones: no step back up while memory stays short.
    for _ in range(RECOVER_AFTER_DECODES):
        with pytest.raises(DecodeError):
            up.decode_lattice(features, lattice)
    assert up.chunk == MIN_CHUNK


class FaultyLoader:
    """The tiny methods; `out_of_memory` names runs out of memory in every
    decode, `broken` names raise an ordinary exception."""

    def __init__(self, out_of_memory: tuple[str, ...] = (), broken: tuple[str, ...] = ()) -> None:
        self.out_of_memory, self.broken = out_of_memory, broken
        self.inner = tiny_loader(("bicubic", "liif", "ipe-liif", "diinn", "diif"))

    def __call__(self, name: str, device):
        up = self.inner(name, device)
        if name in self.out_of_memory:
            def no_memory(window, block):
                raise cuda_out_of_memory()

            up.model.decode_window = no_memory
        if name in self.broken:
            def broken(features, lattice, progress=None):
                raise ValueError(f"{name} decoder exploded")

            up.decode_lattice = broken
        return up


FAULTY_METHODS = ["bicubic", "liif", "ipe-liif", "diinn"]


def test_a_failing_method_marks_only_its_own_pane_and_the_app_keeps_running(qtbot, tmp_path: Path) -> None:
    loader = FaultyLoader(out_of_memory=("ipe-liif",), broken=("diinn",))
    window = make_window(qtbot, tmp_path, ["bicubic", "ipe-liif", "liif", "diinn"], loader=loader,
                         methods=FAULTY_METHODS, size=(800, 500))
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(4.0)
    states = ("done", "untrained", "error")
    wait_done(qtbot, window, states)
    slots = window.slots()
    assert [s.sides["a"].state for s in slots] == ["done", "error", "untrained", "error"]
    assert "out of memory even at 256 points" in " ".join(slots[1].pane.label_lines())
    assert "diinn decoder exploded" in " ".join(slots[3].pane.label_lines())
    for good in (slots[0], slots[2]):
        assert good.pane.composed()[1].any()
    # A split side that fails leaves the other side of the same pane alone.
    slots[0].picker.set_split_method("diinn")
    window.set_zoom(5.0)
    wait_done(qtbot, window, states)
    assert (slots[0].sides["a"].state, slots[0].sides["b"].state) == ("done", "error")
    assert slots[0].pane.composed("a")[1].any()
    # Still running: pick a working method in the failed pane and it recovers.
    slots[1].picker.set_method("liif")
    wait_done(qtbot, window, states)
    assert slots[1].sides["a"].state == "untrained" and slots[1].sides["a"].error is None
    assert_pane_shows_the_view(window, [slots[1]])
    assert window.service.worker_thread.isRunning()


# ---------------------------------------------------------------- exports that do not finish


def export_and_wait(qtbot, window: MainWindow, path: Path, method: str, scale: float = 6.0):
    with qtbot.waitSignal(window.exportDone, timeout=WAIT_MS) as blocker:
        window.export_actions.export_to(str(path), method, area="whole", mode="scale", scale=scale,
                                        progress_dialog=False)
    return blocker.args[0]


@pytest.mark.parametrize("fault", ["cancel", "disk full", "encoder crash", "decoder crash", "out of memory"])
def test_interrupted_export_leaves_the_existing_file_and_no_partial_one(
        fault: str, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inference import piecewise

    loader = FaultyLoader(out_of_memory=("ipe-liif",), broken=("diinn",))
    window = make_window(qtbot, tmp_path, ["bicubic"], loader=loader, methods=FAULTY_METHODS)
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    wait_done(qtbot, window)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    existing = out_dir / "result.png"
    imageio.save_image(existing, np.full((5, 5, 3), 0.3))
    before = existing.read_bytes()
    dialogs = Dialogs(monkeypatch)
    method = {"decoder crash": "diinn", "out of memory": "ipe-liif"}.get(fault, "liif")
    if fault == "cancel":
        monkeypatch.setattr(piecewise, "TILE", 16)
        window.service.worker.exportProgress.connect(lambda done, total: done >= 2 and window.service.cancel_export())
    elif fault in ("disk full", "encoder crash"):
        def write_some_then_fail(handle, pixels, fmt, meta) -> None:
            handle.write(b"\x89PNG\r\n\x1a\n partial")
            if fault == "disk full":
                raise OSError(errno.ENOSPC, "No space left on device")
            raise RuntimeError("encoder crashed")

        monkeypatch.setattr(imageio.writing, "_write_encoded", write_some_then_fail)
    result = export_and_wait(qtbot, window, existing, method)
    assert not result.ok
    expected = {"cancel": "cancelled", "disk full": "No space left on device", "encoder crash": "encoder crashed",
                "decoder crash": "diinn decoder exploded", "out of memory": "out of memory"}[fault]
    assert expected in result.message
    if fault == "cancel":
        assert result.cancelled and not dialogs.shown and "cancelled" in window.statusBar().currentMessage()
    else:
        assert dialogs.shown == [("Export failed", result.message)]
    assert existing.read_bytes() == before
    assert sorted(p.name for p in out_dir.iterdir()) == ["result.png"]  # no temporary or partial file
    # And the next export works.
    monkeypatch.undo()
    assert export_and_wait(qtbot, window, out_dir / "next.png", "bicubic", 2.0).ok


def test_absurd_wheel_delta_zooms_to_the_limit_without_raising(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent

    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    pane = window.panes()[0]
    for delta, expected in ((2**31 - 1, MAX_ZOOM), (-2**31, window.zoom_slider.minimum())):
        event = QWheelEvent(QPointF(10, 10), QPointF(10, 10), QPoint(0, 0), QPoint(0, delta), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        pane.wheelEvent(event)
        assert window.model.view.zoom == expected
    wait_done(qtbot, window)


def test_transient_out_of_memory_in_a_pane_still_shows_the_right_pixels(qtbot, tmp_path: Path) -> None:
    short_of_memory: list[OutOfMemoryOnCall] = []

    def loader(name: str, device):
        up = tiny_loader()(name, device)
        if name == "liif":
            up.chunk = 2048
            short_of_memory.append(OutOfMemoryOnCall(up, {1, 2, 3}))
            up.model.decode_window = short_of_memory[-1]
        return up

    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], loader=loader)
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(7.0)
    wait_done(qtbot, window)
    assert sum(oom.calls for oom in short_of_memory) > 3 and window.service.worker._upscalers["liif"].chunk == 256
    slot = window.slots()[1]
    assert slot.sides["a"].state == "untrained" and slot.sides["a"].error is None
    up = tiny_liif()
    lattice = slot.pane.lattice()
    rows, cols = lattice.inside_mask(24, 20)
    direct = to_display(up.decode_lattice(up.encode(window.model.image_rgb), lattice)) * np.outer(rows, cols)[..., None]
    assert_close_pixels(slot.pane.composed()[0], direct)


def test_closing_the_window_during_an_export_writes_nothing(qtbot, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from inference import piecewise

    def slow_loader(name: str, device):
        up = tiny_loader()(name, device)
        decode = up.decode_lattice

        def slow(features, lattice, progress=None):
            time.sleep(0.05)
            return decode(features, lattice, progress)

        up.decode_lattice = slow
        return up

    monkeypatch.setattr(piecewise, "TILE", 16)
    window = make_window(qtbot, tmp_path, ["bicubic"], loader=slow_loader)
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    wait_done(qtbot, window)
    existing = tmp_path / "result.png"
    imageio.save_image(existing, np.full((5, 5, 3), 0.3))
    before = existing.read_bytes()
    progress: list[int] = []
    window.service.worker.exportProgress.connect(lambda done, total: progress.append(done))
    window.export_actions.export_to(str(existing), "liif", area="whole", mode="scale", scale=20.0,
                                    progress_dialog=False)
    qtbot.waitUntil(lambda: len(progress) >= 3, timeout=WAIT_MS)
    window.close()
    assert window.service.worker_thread.isFinished()
    assert existing.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".png", ".part")) == ["photo.png", "result.png"]


def test_a_view_larger_than_the_pane_budget_is_shown_whole(qtbot, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import widgets.image_pane as image_pane

    # A budget below one view's worth of tiles (as with a very large pane on a high-resolution screen).
    monkeypatch.setattr(image_pane, "MAX_TILE_BYTES_PER_SIDE", 64 * 64 * 3 * 4)
    window = make_window(qtbot, tmp_path, ["bicubic"], size=(500, 400), tile=32)
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(9.0)
    wait_done(qtbot, window)
    assert_pane_shows_the_view(window)
    window.apply_view(window.model.view.panned(100, 40))
    wait_done(qtbot, window)
    assert_pane_shows_the_view(window)
    pane = window.panes()[0]
    history = [t for t in pane._sides["a"].tiles.values() if not pane.in_view(t)]
    assert sum(t.array.nbytes for t in history) <= image_pane.MAX_TILE_BYTES_PER_SIDE


def test_many_panes_do_not_widen_the_window_past_the_screen(qtbot, tmp_path: Path) -> None:
    from tests.tiny_methods import TINY_ARGS, tiny_methods_loader

    window = make_window(qtbot, tmp_path, ["bicubic"], loader=tiny_methods_loader(),
                         methods=["bicubic", *TINY_ARGS], size=(640, 420))
    screen = window.screen().availableGeometry().width()
    window.grid.set_pane_count(8)
    QApplication.processEvents()
    # Method names are long ("LIIF-SIREN (untrained)"); the pickers shrink rather than push the window out.
    assert window.minimumSizeHint().width() <= min(screen, 800)
    assert window.width() <= min(screen, 800)
