"""Loading what users actually have on disk, and saving without ever harming a file."""

from __future__ import annotations

import errno
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference import imageio
from inference.imageio import ImageLoadError, ImageSaveError, load_image, read_metadata, save_image


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def plain_png(path: Path, samples: np.ndarray, colour_type: int, depth: int = 16) -> None:
    """A PNG written independently of the code under test: filter 0, one IDAT."""
    h, w = samples.shape[:2]
    raw = samples.astype(">u2" if depth == 16 else np.uint8).reshape(h, -1).view(np.uint8)
    rows = np.hstack((np.zeros((h, 1), np.uint8), raw))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows.tobytes())) + chunk(b"IEND", b""))


def load_error(path: Path, **kwargs) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# ---------------------------------------------------------------- refusing bad files


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in load_error(tmp_path / "nope.png")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert "empty" in load_error(path)


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    assert "folder" in load_error(tmp_path)


def test_text_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("these are my notes, not a picture\n")
    assert "not an image" in load_error(path)


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file(tmp_path: Path, fmt: str, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    Image.fromarray(noise(64, 64)).save(whole, fmt)
    data = whole.read_bytes()
    half = tmp_path / f"half{suffix}"
    half.write_bytes(data[: len(data) // 2])
    assert "truncated" in load_error(half)
    header_only = tmp_path / f"header{suffix}"
    header_only.write_bytes(data[:12])
    assert f"looks like a {fmt} file" in load_error(header_only)


def test_corrupt_png_data(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    Image.fromarray(noise(64, 64)).save(path)
    data = bytearray(path.read_bytes())
    data[200:220] = bytes(20)
    path.write_bytes(bytes(data))
    assert "corrupt" in load_error(path)


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    # 100000 x 100000 claimed by the header, almost no data: refused before decoding.
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    message = load_error(path)
    assert "100000 x 100000" in message and f"{imageio.MAX_PIXELS // 1_000_000} megapixels" in message
    # Pillow's own global limit is left as it was.
    assert Image.MAX_IMAGE_PIXELS is not None


def test_pixel_limit_names_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(noise(30, 40)).save(path)
    message = load_error(path, max_pixels=1000)
    assert "40 x 30" in message and "limit of 0.001 megapixels" in message
    assert load_image(path, max_pixels=1200).width == 40


def test_zero_size_header(tmp_path: Path) -> None:
    path = tmp_path / "zero.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    load_error(path)


# ---------------------------------------------------------------- loading what users have


def test_jpeg_named_png_loads(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (16, 8), (200, 40, 40)).save(path, "JPEG", quality=95)
    loaded = load_image(path)
    assert (loaded.width, loaded.height) == (16, 8)
    assert np.allclose(loaded.rgb[4, 8], [200 / 255, 40 / 255, 40 / 255], atol=0.03)
    assert any("JPEG" in note for note in loaded.notes)


def test_rgb_8bit_exact(tmp_path: Path) -> None:
    pixels = noise(5, 7)
    path = tmp_path / "a.png"
    Image.fromarray(pixels).save(path)
    loaded = load_image(path)
    assert loaded.rgb.dtype == np.float32 and loaded.rgb.shape == (5, 7, 3)
    assert loaded.bit_depth == 8 and loaded.notes == []
    np.testing.assert_array_equal(np.rint(loaded.rgb * 255).astype(np.uint8), pixels)


@pytest.mark.parametrize("size", [(1, 1), (1, 10000), (10000, 1)])
def test_tiny_and_strip_images(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "strip.png"
    Image.new("RGB", size, (0, 128, 255)).save(path)
    loaded = load_image(path)
    assert (loaded.width, loaded.height) == size
    assert np.allclose(loaded.rgb, [0, 128 / 255, 1], atol=1e-6)


def test_16bit_rgb_png_keeps_precision(tmp_path: Path) -> None:
    samples = np.random.default_rng(1).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    path = tmp_path / "deep.png"
    plain_png(path, samples, colour_type=2)
    loaded = load_image(path)
    assert loaded.bit_depth == 16 and "16-bit" in loaded.notes
    np.testing.assert_array_equal(np.rint(loaded.rgb * 65535).astype(np.uint16), samples)


def test_16bit_rgba_png_composited_with_precision(tmp_path: Path) -> None:
    samples = np.zeros((2, 2, 4), np.uint16)
    samples[..., :3] = 1000  # not representable in 8 bits
    samples[..., 3] = 65535
    samples[1, 1, 3] = 0
    path = tmp_path / "deep_alpha.png"
    plain_png(path, samples, colour_type=6)
    loaded = load_image(path)
    assert loaded.bit_depth == 16
    assert np.allclose(loaded.rgb[0, 0], 1000 / 65535, atol=1e-7)
    assert np.allclose(loaded.rgb[1, 1], 0.5)


def test_16bit_grayscale_png(tmp_path: Path) -> None:
    grey = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 4099 + 7)
    path = tmp_path / "grey16.png"
    plain_png(path, grey, colour_type=0)
    loaded = load_image(path)
    assert loaded.bit_depth == 16 and "grayscale" in loaded.notes
    np.testing.assert_array_equal(np.rint(loaded.rgb[..., 1] * 65535).astype(np.uint16), grey)
    assert np.array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])


def test_grayscale_8bit(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (4, 3), 64).save(path)
    loaded = load_image(path)
    assert "grayscale" in loaded.notes and loaded.rgb.shape == (3, 4, 3)
    assert np.allclose(loaded.rgb, 64 / 255)


def test_cmyk_jpeg_converted(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(path, "JPEG", quality=95)  # pure cyan
    loaded = load_image(path)
    assert any("CMYK" in note for note in loaded.notes)
    assert np.allclose(loaded.rgb[4, 4], [0, 1, 1], atol=0.04)


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    path = tmp_path / "palette.png"
    image.save(path, transparency=1)
    loaded = load_image(path)
    assert np.allclose(loaded.rgb[0, 0], [1, 0, 0])
    assert np.allclose(loaded.rgb[0, 1], [0.5, 0.5, 0.5])  # transparent: neutral grey
    assert any("grey" in note for note in loaded.notes)


def test_rgba_half_transparent(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (2, 2), (255, 255, 255, 0)).save(path)
    assert np.allclose(load_image(path).rgb, 0.5)
    opaque = tmp_path / "opaque.png"
    Image.new("RGBA", (2, 2), (255, 0, 0, 255)).save(opaque)
    loaded = load_image(opaque)
    assert np.allclose(loaded.rgb, [1, 0, 0]) and loaded.notes == []


@pytest.mark.parametrize(("fmt", "suffix"), [("GIF", ".gif"), ("WEBP", ".webp")])
def test_animated_gives_first_frame(tmp_path: Path, fmt: str, suffix: str) -> None:
    frames = [Image.new("RGB", (6, 4), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / f"anim{suffix}"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)
    loaded = load_image(path)
    assert "first frame of 3" in loaded.notes
    assert np.allclose(loaded.rgb[2, 3], [1, 0, 0], atol=0.02)


def test_exif_rotated_jpeg_comes_out_upright(tmp_path: Path) -> None:
    # Stored 8 wide x 4 tall with a red left half; orientation 6 = display rotated 90 degrees clockwise.
    stored = np.zeros((4, 8, 3), np.uint8)
    stored[:, :4] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "camera.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=98, exif=exif)
    loaded = load_image(path)
    assert (loaded.width, loaded.height) == (4, 8)
    assert loaded.rgb[1, :, 0].mean() > 0.9  # the red half is now on top
    assert loaded.rgb[6, :, 0].mean() < 0.1
    assert any("orientation" in note for note in loaded.notes)


def test_bmp_and_tiff_load(tmp_path: Path) -> None:
    pixels = noise(3, 5)
    for suffix in (".bmp", ".tif"):
        path = tmp_path / f"a{suffix}"
        Image.fromarray(pixels).save(path)
        np.testing.assert_array_equal(np.rint(load_image(path).rgb * 255).astype(np.uint8), pixels)


# ---------------------------------------------------------------- saving


@pytest.mark.parametrize(("suffix", "bits", "tolerance"), [
    (".png", 8, 0.5 / 255), (".png", 16, 0.5 / 65535), (".tif", 8, 0.5 / 255), (".tif", 16, 0.5 / 65535),
    (".webp", 8, 0.5 / 255), (".jpg", 8, 0.2)])
def test_save_round_trip_with_metadata(tmp_path: Path, suffix: str, bits: int, tolerance: float) -> None:
    rgb = np.random.default_rng(2).random((9, 13, 3)).astype(np.float32)
    meta = {"Method": "LIIF (liif)", "Region": "x=1.5, y=2 (LR pixels)", "Note": "naïve ü"}
    path = save_image(tmp_path / f"out{suffix}", rgb, bits=bits, metadata=meta)
    loaded = load_image(path)
    assert loaded.bit_depth == bits and (loaded.width, loaded.height) == (13, 9)
    assert np.abs(loaded.rgb - rgb).max() <= tolerance + 1e-7
    assert read_metadata(path) == meta
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{suffix}"]  # no temporary left over


def test_16bit_multi_strip_tiff(tmp_path: Path) -> None:
    rgb = np.linspace(0, 1, 3 * 700 * 300, dtype=np.float32).reshape(300, 700, 3)  # several strips
    path = save_image(tmp_path / "deep.tiff", rgb, bits=16)
    assert np.abs(load_image(path).rgb - rgb).max() <= 0.5 / 65535 + 1e-7


def test_out_of_range_is_clipped_and_nan_refused(tmp_path: Path) -> None:
    rgb = np.array([[[-1.0, 2.0, 0.0]]], dtype=np.float32)
    loaded = load_image(save_image(tmp_path / "x.png", rgb))
    assert np.allclose(loaded.rgb, [[[0, 1, 0]]])
    # NaN is what a damaged model gives: never written as black, refused.
    with pytest.raises(ImageSaveError, match="non-finite"):
        save_image(tmp_path / "y.png", np.array([[[0.5, 0.5, np.nan]]], dtype=np.float32))
    assert not (tmp_path / "y.png").exists()


def save_error(path: Path, rgb: np.ndarray, **kwargs) -> str:
    with pytest.raises(ImageSaveError) as info:
        save_image(path, rgb, **kwargs)
    return str(info.value)


def test_unknown_extension_refused(tmp_path: Path) -> None:
    message = save_error(tmp_path / "out.xyz", np.zeros((2, 2, 3)))
    assert "unknown output format '.xyz'" in message and ".png" in message
    assert "(no extension)" in save_error(tmp_path / "out", np.zeros((2, 2, 3)))
    assert not list(tmp_path.iterdir())


def test_16bit_needs_png_or_tiff(tmp_path: Path) -> None:
    assert ".png or .tif" in save_error(tmp_path / "out.jpg", np.zeros((2, 2, 3)), bits=16)


def test_missing_folder(tmp_path: Path) -> None:
    assert "does not exist" in save_error(tmp_path / "no" / "out.png", np.zeros((2, 2, 3)))


def test_format_size_limit_checked_before_work(tmp_path: Path) -> None:
    with pytest.raises(ImageSaveError, match="16383 pixels a side"):
        imageio.check_output(tmp_path / "wide.webp", 20000, 10)
    imageio.check_output(tmp_path / "wide.png", 20000, 10)


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_failed_save_leaves_existing_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    failure: BaseException) -> None:
    target = tmp_path / "keep.png"
    save_image(target, np.full((4, 4, 3), 0.25))
    before = target.read_bytes()

    def write_half_then_fail(handle, pixels, fmt, meta) -> None:
        handle.write(b"\x89PNG partial data")
        raise failure

    monkeypatch.setattr(imageio.writing, "_write_encoded", write_half_then_fail)
    expected = ImageSaveError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        save_image(target, np.full((4, 4, 3), 0.75))
    if expected is ImageSaveError:
        assert "No space left on device" in str(info.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_failed_fsync_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(imageio.atomic.os, "fsync", no_fsync)
    with pytest.raises(ImageSaveError, match="Input/output error"):
        save_image(tmp_path / "new.png", np.zeros((2, 2, 3)))
    assert not list(tmp_path.iterdir())


def test_bad_metadata_key_refused(tmp_path: Path) -> None:
    assert "metadata key" in save_error(tmp_path / "a.png", np.zeros((2, 2, 3)), metadata={"bad key!": "x"})


def test_read_metadata_of_plain_image_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (2, 2)).save(path)
    assert read_metadata(path) == {}
    with pytest.raises(ImageLoadError):
        read_metadata(tmp_path / "missing.png")


def _png_with_profile(path, rgb: np.ndarray, profile: bytes) -> None:
    Image.fromarray(rgb).save(path, icc_profile=profile)


def _srgb_profile_bytes() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_srgb_profile_needs_no_note(tmp_path) -> None:
    rgb = (np.random.default_rng(0).random((6, 7, 3)) * 255).astype(np.uint8)
    path = tmp_path / "srgb.png"
    _png_with_profile(path, rgb, _srgb_profile_bytes())
    loaded = load_image(path)
    assert not any("profile" in n for n in loaded.notes)
    np.testing.assert_array_equal(np.round(loaded.rgb * 255).astype(np.uint8), rgb)


def test_other_rgb_profile_is_converted_to_srgb_and_said(tmp_path) -> None:
    # The sRGB profile renamed: not recognised as sRGB, so it goes through the
    # colour conversion, which must then be (nearly) the identity.
    profile = _srgb_profile_bytes()
    from PIL import ImageCms

    name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).strip()
    renamed = profile.replace(name.encode("ascii"), name.replace("s", "z").encode("ascii"))
    renamed = renamed.replace(name.encode("utf-16-be"), name.replace("s", "z").encode("utf-16-be"))
    rgb = (np.random.default_rng(1).random((6, 7, 3)) * 255).astype(np.uint8)
    path = tmp_path / "tagged.png"
    _png_with_profile(path, rgb, renamed)
    loaded = load_image(path)
    assert any("converted from its colour profile" in n for n in loaded.notes), loaded.notes
    assert np.abs(loaded.rgb * 255 - rgb).max() <= 2


def test_unreadable_profile_is_ignored_and_said(tmp_path) -> None:
    rgb = np.full((4, 4, 3), 120, np.uint8)
    path = tmp_path / "bad-profile.png"
    _png_with_profile(path, rgb, b"not a profile at all" * 10)
    loaded = load_image(path)
    assert any("unreadable" in n for n in loaded.notes)
    np.testing.assert_allclose(loaded.rgb, 120 / 255, atol=1e-6)


# ---------------------------------------------------------------- reliability, round two: paths

def short_png(path: Path, width: int, height: int, rows: np.ndarray, interlaced: bool = False) -> Path:
    """A PNG whose header declares width x height but whose well-formed
    (properly ended) zlib stream holds only the filtered `rows` given."""
    raw = np.hstack((np.zeros((rows.shape[0], 1), np.uint8), rows.reshape(rows.shape[0], -1))).tobytes()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, int(interlaced)))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def deny(monkeypatch: pytest.MonkeyPatch, error: int, where: Path) -> None:
    """os.stat of anything under `where` fails with `error` (e.g. EACCES: a
    folder without search permission, which binds no one when tests run as root)."""
    import os

    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if str(path).startswith(str(where)):
            raise OSError(error, os.strerror(error), str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


@pytest.mark.parametrize(("case", "words"), [
    ("fifo", "named pipe (FIFO)"),
    ("/dev/zero", "character device"),
    ("/dev/urandom", "character device"),
    ("long name", "too long"),
    ("long path", "too long"),
    ("unsearchable folder", "permission denied (a folder on the way cannot be searched)"),
    ("unreadable file", "permission denied (the file is not readable)"),
    ("inside a file", "a part of the path is a file"),
])
def test_inputs_that_are_not_readable_regular_files_are_named_for_what_they_are(
        case: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    good = tmp_path / "photo.png"
    Image.fromarray(noise(6, 5)).save(good)
    path = {"/dev/zero": Path("/dev/zero"), "/dev/urandom": Path("/dev/urandom"),
            "long name": tmp_path / ("n" * 300 + ".png"),
            "long path": Path("/".join([str(tmp_path)] + ["d" * 200] * 25) + "/x.png"),
            "inside a file": good / "x.png"}.get(case, good)
    if case == "fifo":
        path = tmp_path / "pipe.png"
        os.mkfifo(path)  # nobody writes to it: opening it for reading would block forever
    elif case == "unsearchable folder":
        deny(monkeypatch, errno.EACCES, tmp_path)
    elif case == "unreadable file":
        monkeypatch.setattr(os, "access", lambda p, mode, **k: False)
    message = load_error(path)
    assert words in message and "empty" not in message
    with pytest.raises(ImageLoadError, match=r"not|too long|denied|part of"):
        imageio.read_header(path)


@pytest.mark.parametrize("case", ["constant rows", "noise rows", "interlaced", "huge header, 4 KB"])
def test_png_data_shorter_than_its_header_is_refused_as_truncated_not_padded(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    if case == "constant rows":  # compressible: refused from the chunk sizes, before decoding
        path = short_png(tmp_path / "c.png", 64, 64, np.full((8, 64 * 3), 200, np.uint8))
    elif case == "noise rows":  # incompressible: decoded, then the blank last row gives it away
        path = short_png(tmp_path / "n.png", 64, 64, rng.integers(0, 256, (8, 64 * 3), dtype=np.uint8))
    elif case == "interlaced":  # Adam7's first two passes (8 rows of 8 pixels each) and nothing more
        path = short_png(tmp_path / "i.png", 64, 64, rng.integers(0, 256, (16, 8 * 3), dtype=np.uint8), True)
    else:
        # 14142 x 14142 (just under 200 MP) declared, 3 rows of data: refused without decoding.
        path = short_png(tmp_path / "h.png", 14142, 14142, np.full((3, 14142 * 3), 7, np.uint8))
        assert path.stat().st_size < 4096

        def no_decode(self, *args, **kwargs):
            raise AssertionError("the pixels were decoded")

        monkeypatch.setattr(Image.Image, "load", no_decode)
        monkeypatch.setattr(imageio.reading.ImageFile.ImageFile, "load", no_decode)
    message = load_error(path)
    assert "truncated" in message and "invented" in message
    if case != "interlaced":
        assert ("of the 64 rows" in message) or ("3 of the 14142 rows" in message)
    # Whoever turned Pillow's zero-padding on, it stays refused.
    monkeypatch.setattr(imageio.reading.ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert "truncated" in load_error(path)


def test_a_complete_png_ending_in_black_rows_still_loads(tmp_path: Path) -> None:
    rows = noise(16, 9)
    rows[-4:] = 0
    path = tmp_path / "dark.png"
    Image.fromarray(rows).save(path)
    loaded = load_image(path)
    np.testing.assert_array_equal(np.rint(loaded.rgb * 255).astype(np.uint8), rows)


def test_corrupt_exif_is_a_note_not_a_warning_on_stderr(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    # One IFD entry (Make) claiming 1000 bytes past the end of the EXIF block.
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010F, 2, 1000, 26) + struct.pack("<I", 0)
    path = tmp_path / "camera.jpg"
    Image.new("RGB", (8, 6), (10, 20, 30)).save(path, exif=b"Exif\x00\x00" + tiff)
    loaded = load_image(path)
    assert (loaded.width, loaded.height) == (8, 6)
    assert any("warned" in note for note in loaded.notes)
    assert not [w for w in recwarn if "PIL" in (w.filename or "")]


def test_read_header_decodes_nothing_and_sees_exif_rotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(noise(8, 4)).save(path, exif=exif.tobytes())

    def no_decode(self, *args, **kwargs):
        raise AssertionError("pixels decoded")

    plain = tmp_path / "plain.png"
    Image.fromarray(noise(8, 4)).save(plain)
    rotated_png = tmp_path / "rotated.png"
    Image.fromarray(noise(8, 4)).save(rotated_png, exif=exif.tobytes())
    monkeypatch.setattr(imageio.reading.ImageFile.ImageFile, "load", no_decode)
    header = imageio.read_header(path)
    assert (header.width, header.height, header.format) == (8, 4, "JPEG")
    assert (imageio.read_header(plain).width, imageio.read_header(rotated_png).width) == (4, 8)


@pytest.mark.parametrize("kind", ["rgb", "rgba", "grey", "16-bit", "palette"]
                         + [f"jpeg, orientation {o}" for o in range(2, 9)])
def test_a_box_keeps_exactly_that_part_of_the_whole_image(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / ("x.jpg" if kind.startswith("jpeg") else "x.png")
    if kind == "rgb":
        Image.fromarray(noise(30, 40)).save(path)
    elif kind == "rgba":
        Image.fromarray(rng.integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA").save(path)
    elif kind == "grey":
        Image.fromarray(rng.integers(0, 256, (30, 40), dtype=np.uint8), "L").save(path)
    elif kind == "16-bit":
        plain_png(path, rng.integers(0, 65536, (30, 40, 3), dtype=np.uint16), 2)
    elif kind == "palette":
        Image.fromarray(noise(30, 40)).convert("P").save(path, transparency=3)
    else:
        exif = Image.Exif()
        exif[0x0112] = int(kind[-1])
        rotated = int(kind[-1]) >= 5
        Image.fromarray(noise(40, 30) if rotated else noise(30, 40)).save(path, exif=exif.tobytes(), quality=95)
    whole = load_image(path)
    part = load_image(path, box=(-5, 3, 17, 12))
    assert part.box == (0, 3, 17, 12)
    np.testing.assert_array_equal(part.rgb, whole.rgb[3:12, 0:17])
    assert set(whole.notes) == set(part.notes)


# ---------------------------------------------------------------- reliability, round two: saving

@pytest.mark.parametrize("target", ["a file", "/dev/null", "nothing"])
def test_a_symlinked_output_is_refused_and_its_target_untouched(target: str, tmp_path: Path) -> None:
    import os

    link = tmp_path / "out.png"
    pointee = {"a file": tmp_path / "precious.png", "/dev/null": Path("/dev/null"),
               "nothing": tmp_path / "missing.png"}[target]
    if target == "a file":
        pointee.write_bytes(b"precious")
    os.symlink(pointee, link)
    message = save_error(link, np.zeros((4, 4, 3)))
    assert "symbolic link" in message
    assert link.is_symlink() and os.readlink(link) == str(pointee)
    if target == "a file":
        assert pointee.read_bytes() == b"precious"
    expected = {"out.png", "precious.png"} if target == "a file" else {"out.png"}
    assert {p.name for p in tmp_path.iterdir()} == expected  # no temporary left, the dangling target not made


def test_a_new_output_gets_the_umask_mode_and_a_replaced_one_keeps_its_own(tmp_path: Path) -> None:
    import os

    old = os.umask(0o027)
    try:
        fresh = save_image(tmp_path / "new.png", np.zeros((2, 2, 3)))
        assert fresh.stat().st_mode & 0o777 == 0o640
        kept = tmp_path / "kept.png"
        kept.write_bytes(b"x")
        kept.chmod(0o600)
        save_image(kept, np.zeros((2, 2, 3)))
        assert kept.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize("length", [241, 250, 255])
def test_names_near_the_limit_are_written_with_a_temporary_name_that_fits(length: int, tmp_path: Path) -> None:
    path = tmp_path / ("é" * ((length - 4) // 2) + "e" * ((length - 4) % 2) + ".png")
    assert len(bytes(path.name, "utf-8")) == length
    save_image(path, np.full((3, 3, 3), 0.5))
    assert load_image(path).width == 3
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(("case", "words"), [
    ("name over 255", "too long"),
    ("path over 4096", "too long"),
    ("unsearchable folder", "cannot be searched"),
])
def test_unwritable_names_are_refused_before_work(case: str, words: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = {"name over 255": tmp_path / ("o" * 256 + ".png"),
            "path over 4096": Path("/".join([str(tmp_path)] + ["d" * 200] * 25) + "/o.png"),
            "unsearchable folder": tmp_path / "locked" / "o.png"}[case]
    if case == "unsearchable folder":
        deny(monkeypatch, errno.EACCES, tmp_path / "locked")
    with pytest.raises(ImageSaveError, match=words):
        imageio.check_output(path, 10, 10)


def test_one_rounding_rule_for_files_screen_and_evaluation() -> None:
    """Ties round half to even and NaN becomes 0 wherever float becomes 8 bits."""
    from inference.imageio.pixels import quantise, to_float, to_rgb8
    from inference.render.tiles import to_display

    values = np.array([[[0.5, 1.5 / 255, 2.5 / 255], [np.nan, -1.0, 2.0]]], dtype=np.float32)
    expected = np.array([[[128, 2, 2], [0, 0, 255]]], dtype=np.uint8)
    for rounded in (to_display(values), quantise(values, 8), to_rgb8(values)):
        np.testing.assert_array_equal(rounded, expected)
    deep = np.array([[[0, 257, 65535]]], dtype=np.uint16)
    np.testing.assert_array_equal(to_rgb8(deep), [[[0, 1, 255]]])
    np.testing.assert_allclose(to_float(deep), [[[0, 257 / 65535, 1]]], rtol=1e-6)


def test_metrics_read_16_bit_images_as_the_loader_does() -> None:
    from inference.metrics import psnr_y

    eight = np.random.default_rng(0).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    assert psnr_y(eight.astype(np.uint16) * 257, eight, 0) == float("inf")
