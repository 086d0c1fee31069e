"""Run-time detection of native bf16 (the CPU path's fast precision)."""

from __future__ import annotations

from inference.precision import cpu_has_native_bf16

INTEL_SAPPHIRE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw amx_tile amx_bf16\n"
AMD_ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
OLD_XEON = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
ARM_PLAIN = "processor\t: 0\nFeatures\t: fp asimd\n"


def test_bf16_only_where_the_cpu_has_it() -> None:
    assert cpu_has_native_bf16(INTEL_SAPPHIRE)
    assert cpu_has_native_bf16(AMD_ZEN4)
    assert cpu_has_native_bf16(ARM_BF16)
    # AVX-512 without its BF16 extension emulates bf16: slower than fp32.
    assert not cpu_has_native_bf16(OLD_XEON)
    assert not cpu_has_native_bf16(ARM_PLAIN)
    assert not cpu_has_native_bf16("")


# ------------------------------------------------------------ precision of a decode

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from inference import precision as precision_module  # noqa: E402
from inference.geometry import Lattice  # noqa: E402
from tests.tiny_methods import TINY_ARGS, TINY_ENCODER, sample_image  # noqa: E402


def tiny(name: str, precision: str, **options):
    from inference import registry
    from inference.upscaler import ImplicitUpscaler
    from inference.weights import WeightsInfo

    torch.manual_seed(0)
    model = registry.build(name, encoder_spec=TINY_ENCODER, **TINY_ARGS[name])
    return model, ImplicitUpscaler(model, WeightsInfo(trained=False), "cpu", precision=precision, **options)


@pytest.mark.parametrize("name", sorted(TINY_ARGS))
def test_bf16_on_the_cpu_decodes_every_method_close_to_fp32(name: str) -> None:
    """bf16 is no longer refused on the CPU; it gives the fp32 picture to
    within rounding, and the caller's model keeps its fp32 weights."""
    image = sample_image(12, 14)
    lattice = Lattice.full_image(14, 12, 2.5)
    model, half = tiny(name, "bf16")
    _, full = tiny(name, "fp32")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert half.model.encoder.head[0].weight.dtype == torch.bfloat16
    if name == "liif-siren":  # the first layer's argument of sin(30 x) stays fp32, later layers are bf16
        assert half.model.decoder_dtype == torch.float32
        assert half.model.imnet.layers[1].weight.dtype == torch.bfloat16
    else:
        assert half.model.decoder_dtype == torch.bfloat16
    got, ref = half.upscale(image, 2.5), full.upscale(image, 2.5)
    assert got.dtype == np.float32 and got.shape == ref.shape == (lattice.height, lattice.width, 3)
    assert np.abs(got - ref).mean() < 0.01 and np.abs(got - ref).max() < 0.1


def test_bf16_features_take_half_the_memory() -> None:
    image = sample_image(16, 16)
    _, half = tiny("liif", "bf16")
    _, full = tiny("liif", "fp32")
    assert half.encode(image).cached_bytes * 2 == full.encode(image).cached_bytes
    # An fp32 encoder (bf16 decoder only) keeps fp32 features.
    _, mixed = tiny("liif", "bf16", encoder_precision="fp32")
    assert mixed.encode(image).cached_bytes == full.encode(image).cached_bytes


def test_fp16_on_the_cpu_is_refused_with_one_clear_message() -> None:
    with pytest.raises(ValueError, match="fp16 is for CUDA only"):
        tiny("liif", "fp16")
    with pytest.raises(ValueError, match="precision must be"):
        tiny("liif", "fp8")


def test_auto_follows_each_methods_measured_bf16_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """'auto' runs in bf16 the parts a method's registration names, and only
    on a CPU that has bf16; a named precision applies to the whole model."""
    from inference import registry

    scopes = {"liif": "all", "a-liif": "decoder", "diif": "none"}
    monkeypatch.setattr(registry, "bf16_scope", lambda method: scopes.get(method, "none"))
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    for name, decoder, encoder in (("liif", "bf16", "bf16"), ("a-liif", "bf16", "fp32"), ("diif", "fp32", "fp32")):
        up = tiny(name, "auto")[1]
        assert (up.precision, up.encoder_precision) == (decoder, encoder), name
        assert up.model.encoder.head[0].weight.dtype == precision_module.torch_dtype(encoder)
    full = tiny("liif", "fp32")[1]
    assert (full.precision, full.encoder_precision) == ("fp32", "fp32")  # fp32 always available
    both = tiny("a-liif", "bf16")[1]
    assert (both.precision, both.encoder_precision) == ("bf16", "bf16")
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    up = tiny("liif", "auto")[1]
    assert (up.precision, up.encoder_precision) == ("fp32", "fp32")


def test_precision_is_told_the_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """precision decides from the scope it is given (it asks no registry); an
    upscaler given a scope uses it instead of its method's registration."""
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    cpu = torch.device("cpu")
    assert [precision_module.default_precision(s, cpu) for s in ("all", "decoder", "none")] == ["bf16", "bf16", "fp32"]
    assert precision_module.default_precision("decoder", cpu, part="encoder") == "fp32"
    assert precision_module.resolve_precision("fp32", "all", cpu) == "fp32"
    up = tiny("diif", "auto", bf16_scope="decoder")[1]
    assert (up.precision, up.encoder_precision) == ("bf16", "fp32")


def test_every_method_registers_a_known_bf16_scope() -> None:
    from inference import catalog, registry

    for name in catalog.all_methods():
        assert registry.bf16_scope(name) in registry.BF16_SCOPES
    assert registry.bf16_scope("no-such-method") == "none"


def _methods_defaulting_to_bf16() -> list[str]:
    from inference import catalog, registry

    return [m for m in registry.method_names()
            if registry.bf16_scope(m) != "none" and catalog.shipped_weights(m) is not None]


@pytest.mark.parametrize("name", _methods_defaulting_to_bf16())
def test_a_method_defaulting_to_bf16_keeps_its_psnr_with_the_shipped_weights(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped weights under 'auto' on a bf16 CPU score within the PSNR
    tolerance of fp32 on a natural image at x2 and x4 (the full check, Set5 and
    Set14 at x2, x4 and x8, is `main.py bench --precision-check`)."""
    from inference.catalog import load_upscaler
    from inference.evaluate import evaluate_image, load_rgb8

    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy machine's second thread only stalls these small decodes
    try:
        image = Path(__file__).resolve().parent.parent / "resources" / "images" / "chelsea.png"
        hr = load_rgb8(image)[100:196, 150:278]
        auto, full = load_upscaler(name, "cpu", precision="auto"), load_upscaler(name, "cpu", precision="fp32")
        assert auto.precision == "bf16"
        for scale in (2, 4):
            change = evaluate_image(auto, hr, scale)[0] - evaluate_image(full, hr, scale)[0]
            assert abs(change) <= precision_module.PSNR_TOLERANCE_DB, (name, scale, change)
    finally:
        torch.set_num_threads(threads)
