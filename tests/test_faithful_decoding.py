"""Images are decoded faithfully or refused, never silently wrong: TIFF
orientation is applied like EXIF's, an invalid orientation is ignored with a
note, transparency keys and colour profiles are handled the same way at every
bit depth and for palettes, damaged PNGs are refused, a BMP's alpha is not
dropped silently, and PPM is refused the same way by single files and folders."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

import main
from inference import imageio

A98 = Path("/usr/share/color/icc/ghostscript/a98.icc")


def cli(*argv: str) -> int:
    try:
        return main.main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(samples: np.ndarray, colour_type: int, depth: int, extra: bytes = b"") -> bytes:
    """A PNG of `samples` ((h, w) or (h, w, c) unsigned ints) with chunks `extra` before IDAT."""
    h, w = samples.shape[:2]
    dtype = ">u2" if depth == 16 else ">u1"
    raw = b"".join(b"\0" + samples[y].astype(dtype).tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def pattern(h: int = 6, w: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- orientation

@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_orientation_is_applied_like_exif(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "scan.tif"
    Image.fromarray(pattern()).save(path, tiffinfo={274: orientation})
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    loaded = imageio.load_image(path)
    np.testing.assert_array_equal(np.round(loaded.rgb * 255).astype(np.uint8), expected)
    header = imageio.read_header(path)
    assert (header.width, header.height) == (expected.shape[1], expected.shape[0])
    assert any("orientation" in note for note in loaded.notes)


def test_an_invalid_exif_orientation_is_ignored_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 65535
    Image.fromarray(pattern(8, 16)).save(path, exif=exif, quality=100)
    loaded = imageio.load_image(path)
    assert loaded.rgb.shape[:2] == (8, 16)
    assert any("orientation" in note and "65535" in note and "ignored" in note for note in loaded.notes)


# ---------------------------------------------------------------- transparency and profiles

@pytest.mark.parametrize("colour", ["grey", "rgb"])
def test_16_bit_png_transparency_key_is_composited_like_8_bit(tmp_path: Path, colour: str) -> None:
    grey = (np.arange(42).reshape(6, 7) * 1500).astype(np.uint16)
    if colour == "grey":
        samples, ctype, key = grey, 0, struct.pack(">H", 3000)
        keyed = grey == 3000
    else:
        samples = np.stack([grey, grey // 2, 65535 - grey], -1)
        ctype, key = 2, struct.pack(">HHH", 3000, 1500, 62535)
        keyed = (samples == (3000, 1500, 62535)).all(-1)
    assert keyed.sum() == 1
    path = tmp_path / "keyed.png"
    path.write_bytes(png_bytes(samples, ctype, 16, chunk(b"tRNS", key)))
    loaded = imageio.load_image(path)
    expected = (samples if ctype == 2 else samples[..., None].repeat(3, -1)) / 65535.0
    expected[keyed] = imageio.ALPHA_BACKGROUND
    assert loaded.bit_depth == 16
    np.testing.assert_allclose(loaded.rgb, expected, atol=0.5 / 65535)
    assert any("transparent" in note for note in loaded.notes)


def test_palette_png_with_a_colour_profile_keeps_its_colours(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = pattern(6, 7, seed=4)
    palette = Image.fromarray(rgb).quantize(colors=16)
    path = tmp_path / "palette.png"
    palette.save(path, icc_profile=srgb)
    expected = np.asarray(palette.convert("RGB")) / 255.0
    loaded = imageio.load_image(path)
    assert np.abs(loaded.rgb - expected).max() <= 1.0 / 255


@pytest.mark.skipif(not A98.exists(), reason="needs an Adobe RGB profile (Debian's ghostscript ships one)")
def test_a_colour_profile_is_applied_and_said_at_every_bit_depth(tmp_path: Path) -> None:
    profile = A98.read_bytes()
    rgb8 = pattern(6, 7, seed=5)
    rgb8[0, 0] = (0, 255, 0)  # Adobe RGB's green lies outside sRGB: the conversion must show
    eight = tmp_path / "eight.png"
    Image.fromarray(rgb8).save(eight, icc_profile=profile)
    sixteen = tmp_path / "sixteen.png"
    iccp = chunk(b"iCCP", b"a98\0\0" + zlib.compress(profile))
    sixteen.write_bytes(png_bytes(rgb8.astype(np.uint16) * 257, 2, 16, iccp))
    a, b = imageio.load_image(eight), imageio.load_image(sixteen)
    for loaded in (a, b):
        assert any("profile" in note for note in loaded.notes), loaded.notes
    assert np.abs(a.rgb - rgb8 / 255.0).max() > 10 / 255  # converted, not passed through
    assert np.abs(a.rgb - b.rgb).max() <= 1.5 / 255  # the same conversion at both depths
    assert b.bit_depth == 16


# ---------------------------------------------------------------- damage

def test_png_damage_is_refused(tmp_path: Path) -> None:
    rgb = pattern()
    good = png_bytes(rgb, 2, 8)
    at = good.index(b"IDAT") + 8  # flip a bit inside IDAT's data: its CRC no longer matches
    bad_crc = good[:at] + bytes([good[at] ^ 1]) + good[at + 1:]
    indices = (np.arange(42).reshape(6, 7) % 4).astype(np.uint8)
    no_plte = png_bytes(indices, 3, 8)
    short_plte = png_bytes(indices, 3, 8, chunk(b"PLTE", bytes(range(6))))  # 2 entries for indices up to 3
    for name, data in (("crc.png", bad_crc), ("noplte.png", no_plte), ("shortplte.png", short_plte)):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(imageio.ImageLoadError) as error:
            imageio.load_image(path)
        assert name in str(error.value) and "\n" not in str(error.value)


def test_a_32_bit_bmp_alpha_channel_is_not_dropped_silently(tmp_path: Path) -> None:
    h, w = 4, 5
    bgra = np.zeros((h, w, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2] = 40, 120, 200
    bgra[..., 3] = 255
    bgra[0, 0, 3] = 0  # one transparent pixel
    pixels = bgra[::-1].tobytes()  # bottom-up rows
    header = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 32, 0, len(pixels), 2835, 2835, 0, 0)
    data = b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + header + pixels
    path = tmp_path / "alpha.bmp"
    path.write_bytes(data)
    loaded = imageio.load_image(path)
    assert any("alpha" in note or "transparen" in note for note in loaded.notes), loaded.notes


# ---------------------------------------------------------------- PPM: one decision for both modes

def test_ppm_is_refused_alike_by_a_single_file_and_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    ppm = folder / "deep.ppm"
    ppm.write_bytes(b"P6\n2 2\n65535\n" + np.arange(12, dtype=">u2").tobytes())
    Image.fromarray(pattern(4, 4)).save(folder / "ok.png")
    assert cli("upscale", str(ppm), "--method", "bicubic", "-o", str(tmp_path / "one.png")) == 1
    single = capsys.readouterr().err
    assert "deep.ppm" in single and "PPM" in single and not (tmp_path / "one.png").exists()
    code = cli("upscale", str(folder), "--method", "bicubic", "--scale", "2", "-o", str(tmp_path / "out"), "--quiet")
    batch = capsys.readouterr().err
    assert code == 1 and "deep.ppm" in batch and "PPM" in batch
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ok_bicubic_x2.png"]
