"""Bring your own model (inference.external): a user's fixed-scale SR network
file, recognised by spandrel, decoding any lattice seamlessly. Small random
networks of two spandrel architectures stand in for real weights."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from inference.external import ExternalModelError, load_external_model, recognise
from inference.external import loader as external_loader
from inference.geometry import Lattice, pane_lattice

# No cap on the margin: these networks' receptive radii (7 to ~40 input pixels) are all exact.
EXACT = {"max_margin": 1000}
W, H = 50, 38  # not multiples of 4: the unshuffling RRDBNet pads the right and bottom


def _spandrel() -> Any:
    # Not pytest.importorskip: spandrel is imported through the loader, which
    # stands in for torchvision where that cannot be imported.
    if importlib.util.find_spec("spandrel") is None:
        pytest.skip("needs the models extra: pip install -e '.[models]'")
    return external_loader.import_spandrel()


def compact_state(scale: int = 4) -> dict[str, torch.Tensor]:
    _spandrel()
    from spandrel.architectures.Compact import Compact

    return _randomised(Compact(num_feat=16, num_conv=4, upscale=scale))


def rrdb_state(scale: int = 2, unshuffle: bool = False) -> dict[str, torch.Tensor]:
    _spandrel()
    from spandrel.architectures.ESRGAN import ESRGAN

    if unshuffle:  # Real-ESRGAN x2: pixel-unshuffle by 2, then the x4 network; input sizes a multiple of 4
        return _randomised(ESRGAN(in_nc=12, num_filters=16, num_blocks=1, scale=4, shuffle_factor=2))
    return _randomised(ESRGAN(num_filters=16, num_blocks=1, scale=scale))


def _randomised(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Weights large enough that every layer matters (default init nearly zeroes the residual paths).
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.1)
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def image() -> np.ndarray:
    return np.random.default_rng(0).random((H, W, 3)).astype(np.float32)


def write_model(name: str, folder: Path) -> Path:
    state = compact_state(4) if name.startswith("compact") else rrdb_state(2, unshuffle="unshuffle" in name)
    path = folder / name
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)  # as BasicSR saves them
    return path


@pytest.fixture(params=["compact-x4.safetensors", "compact-x4.pth", "rrdb-x2.safetensors", "rrdb-x2.pth",
                        "rrdb-unshuffle-x2.safetensors"])
def model_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_model(request.param, tmp_path)


# Decoding does not depend on the file's format: one file per network.
@pytest.fixture(params=["compact-x4.safetensors", "rrdb-x2.pth", "rrdb-unshuffle-x2.safetensors"])
def network_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_model(request.param, tmp_path)


def whole_native(up: Any, img: np.ndarray) -> np.ndarray:
    """The network run once on the whole image: (h*s, w*s, 3)."""
    with torch.inference_mode():
        out = up.descriptor(up.encode(img).tensor)
    return out[0].permute(1, 2, 0).float().numpy()


def pillow_resample(native: np.ndarray, lattice: Lattice, scale: int) -> np.ndarray:
    """Pillow's bicubic (antialiased when shrinking) of the native output onto a lattice."""
    box = (lattice.u0 / lattice.zx * scale, lattice.v0 / lattice.zy * scale,
           (lattice.u0 + lattice.width) / lattice.zx * scale, (lattice.v0 + lattice.height) / lattice.zy * scale)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(native[..., c]), mode="F").resize(
        (lattice.width, lattice.height), Image.Resampling.BICUBIC, box=box)) for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0, 1)


def test_recognised_with_its_architecture_and_scale(model_file: Path) -> None:
    up = load_external_model(model_file, device="cpu", precision="fp32", **EXACT)
    compact = model_file.name.startswith("compact")
    assert up.scale == (4 if compact else 2)
    assert up.recognised.architecture_id == ("Compact" if compact else "ESRGAN")
    assert up.multiple == (4 if "unshuffle" in model_file.name else 1)
    assert up.seamless and up.margin == up.receptive_radius
    details = up.details()
    assert details["native_scale"] == up.scale and details["parameters"] > 0
    assert len(details["sha256"]) == 64
    assert up.metadata()["model_sha256"] == details["sha256"]
    assert up.label_for(up.scale) == f"{model_file.stem} x{up.scale} ({up.recognised.architecture})"
    assert up.label_for(3.7).endswith(", resampled to x3.7")


def test_native_zoom_reproduces_the_network_and_a_viewport_is_a_crop_of_the_whole(network_file: Path) -> None:
    # Small tiles, so that the viewport and the whole image both run in several.
    up = load_external_model(network_file, device="cpu", precision="fp32", tile=24, **EXACT)
    img = image()
    kept = up.encode(img)
    s = up.scale
    whole = up.decode_lattice(kept, Lattice.full_image(W, H, s))
    np.testing.assert_allclose(whole, whole_native(up, img), atol=1e-5, rtol=0)
    view = pane_lattice(20.3, 11.7, s, 61, 45)  # partly outside the image
    crop = up.decode_lattice(kept, view)
    inside = np.zeros_like(crop)
    r0, c0 = int(view.v0), int(view.u0)
    rows = slice(max(0, r0), min(whole.shape[0], r0 + view.height))
    cols = slice(max(0, c0), min(whole.shape[1], c0 + view.width))
    inside[rows.start - r0:rows.stop - r0, cols.start - c0:cols.stop - c0] = whole[rows, cols]
    np.testing.assert_allclose(crop, inside, atol=1e-5, rtol=0)


@pytest.mark.parametrize("zoom", [1.7, 3.3, 6.25])
def test_other_zooms_resample_the_native_output(network_file: Path, zoom: float) -> None:
    up = load_external_model(network_file, device="cpu", precision="fp32", tile=32, **EXACT)
    img = image()
    kept = up.encode(img)
    full = Lattice.full_image(W, H, zoom)
    whole = up.decode_lattice(kept, full)
    np.testing.assert_allclose(whole, pillow_resample(whole_native(up, img), full, up.scale), atol=1e-5, rtol=0)
    block = full.crop(9, 13, 57, 38)
    np.testing.assert_allclose(up.decode_lattice(kept, block), whole[13:51, 9:66], atol=1e-5, rtol=0)


@pytest.mark.filterwarnings("ignore:torch.meshgrid")  # inside spandrel's SwinIR
def test_an_attention_network_loads_aligned_to_its_windows_and_is_not_called_seamless(tmp_path: Path) -> None:
    _spandrel()
    from spandrel.architectures.SwinIR import SwinIR

    net = SwinIR(img_size=32, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                 upsampler="pixelshuffle", mlp_ratio=2.0)
    path = tmp_path / "swinir-x2.safetensors"
    save_file(_randomised(net), str(path))
    up = load_external_model(path, device="cpu", precision="fp32")
    assert up.recognised.architecture_id == "SwinIR" and up.scale == 2
    assert not up.seamless and up.receptive_radius is None and up.multiple == 4
    view = up.decode_lattice(up.encode(image()), pane_lattice(25.0, 19.0, 2.5, 40, 30))
    assert view.shape == (30, 40, 3) and np.isfinite(view).all()


def test_pickled_object_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"params_ema": {"body.0.weight": torch.zeros(1)}, "extra": Payload()}, path)
    with pytest.raises(ExternalModelError) as caught:
        load_external_model(path, device="cpu")
    message = str(caught.value)
    assert "\n" not in message and "pickled object other than tensors" in message and "system" in message
    assert not marker.exists()


def test_unknown_architecture_is_refused_naming_what_was_found(tmp_path: Path) -> None:
    _spandrel()
    path = tmp_path / "mystery.safetensors"
    save_file({"encoder.stem.weight": torch.zeros(4, 3, 3, 3), "decoder.head.bias": torch.zeros(3)}, str(path))
    with pytest.raises(ExternalModelError) as caught:
        recognise(path)
    message = str(caught.value)
    assert "\n" not in message and "unknown architecture" in message
    assert "encoder.stem.weight" in message and "2 tensors" in message


def test_a_network_that_does_not_enlarge_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "denoise.safetensors"
    save_file(compact_state(1), str(path))
    with pytest.raises(ExternalModelError, match="not an image super-resolution network"):
        recognise(path)


def test_other_file_kinds_are_refused(tmp_path: Path) -> None:
    _spandrel()
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(ExternalModelError, match=r"expected a \.safetensors or \.pth file"):
        recognise(path)


def test_without_spandrel_one_line_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # None in sys.modules makes `import spandrel` fail as it does where it is not installed.
    monkeypatch.setattr(external_loader, "_spandrel", None)
    monkeypatch.setitem(sys.modules, "spandrel", None)
    path = tmp_path / "any.safetensors"
    save_file({"x": torch.zeros(1)}, str(path))
    with pytest.raises(ExternalModelError) as caught:
        load_external_model(path, device="cpu")
    message = str(caught.value)
    assert "not installed: pip install -e '.[models]'" in message and "\n" not in message


def test_torchvision_stand_in_is_gone_after_import() -> None:
    _spandrel()
    module = sys.modules.get("torchvision")
    assert module is None or "stand-in" not in (module.__doc__ or "")


@pytest.mark.parametrize("native", [True, False])
def test_reduced_precision_only_where_the_device_runs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         native: bool) -> None:
    from inference.external import upscaler as external_upscaler

    path = write_model("compact-x4.safetensors", tmp_path)
    monkeypatch.setattr(external_upscaler, "native_bf16", lambda device: native)
    # The network's own PSNR check on the probe decides in "auto": within the tolerance here.
    monkeypatch.setattr(external_upscaler, "psnr_change", lambda *a: -0.004)
    up = load_external_model(path, device="cpu")  # spandrel says Compact supports bf16
    assert up.precision == ("bf16" if native else "fp32")
    assert ("-0.004 dB" in up.details()["precision_check"]) == native
    assert next(up.descriptor.model.parameters()).dtype == (torch.bfloat16 if native else torch.float32)
    kept = up.encode(image())
    view = up.decode_lattice(kept, pane_lattice(25.0, 19.0, 4.0, 32, 24))
    assert view.dtype == np.float32 and view.shape == (24, 32, 3)
    with pytest.raises(ExternalModelError, match="fp16 needs CUDA"):
        load_external_model(path, device="cpu", precision="fp16")
    if not native:
        with pytest.raises(ExternalModelError, match="bf16 needs a device that runs it natively"):
            load_external_model(path, device="cpu", precision="bf16")


def test_auto_keeps_fp32_where_the_reduced_precision_costs_psnr(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """In "auto" a reduced precision is checked like the built-in methods': the
    network at both precisions on a probe from the sample image, PSNR against
    its original; a change over the tolerance keeps fp32, and says so."""
    from inference.external import upscaler as external_upscaler
    from inference.precision import PSNR_TOLERANCE_DB

    path = write_model("compact-x4.safetensors", tmp_path)
    monkeypatch.setattr(external_upscaler, "native_bf16", lambda device: True)
    measured: list[float] = []

    def costly(*args: object) -> float:
        measured.append(external_upscaler.__dict__["_real_psnr_change"](*args))
        return 0.5

    monkeypatch.setitem(external_upscaler.__dict__, "_real_psnr_change", external_upscaler.psnr_change)
    monkeypatch.setattr(external_upscaler, "psnr_change", costly)
    up = load_external_model(path, device="cpu")
    assert up.precision == "fp32" and next(up.descriptor.model.parameters()).dtype == torch.float32
    assert "+0.500 dB" in up.details()["precision_check"] and "fp32" in up.details()["precision_check"]
    assert len(measured) == 1 and np.isfinite(measured[0])  # the real probe ran, at both precisions
    # Asked for by name, bf16 is taken as asked (no check), and fp32 never runs one.
    assert load_external_model(path, device="cpu", precision="bf16").precision == "bf16"
    assert load_external_model(path, device="cpu", precision="fp32").details()["precision_check"] == ""
    assert PSNR_TOLERANCE_DB < 0.5
