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

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from inference import precision as precision_module  # noqa: E402
from inference.geometry import Lattice  # noqa: E402
from tests.tiny_methods import TINY_ARGS, TINY_ENCODER, sample_image  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def tiny(name: str, precision: str, **options):
    from inference import registry
    from inference.upscaler import ImplicitUpscaler, WeightsInfo

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


def test_auto_is_bf16_only_for_listed_methods_on_a_cpu_that_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "BF16_METHODS", frozenset({"liif"}))
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    assert precision_module.default_precision("liif", cpu) == "bf16"
    assert precision_module.default_precision("diif", cpu) == "fp32"
    assert tiny("liif", "auto")[1].precision == "bf16"
    assert tiny("liif", "fp32")[1].precision == "fp32"  # fp32 always available
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    assert precision_module.default_precision("liif", cpu) == "fp32"
    assert tiny("liif", "auto")[1].precision == "fp32"


def test_the_bf16_defaults_agree_with_the_recorded_psnr_check() -> None:
    """Every method that defaults to bf16 was measured with trained weights
    on Set5 and Set14 at x2, x4 and x8, and changed PSNR by at most the
    tolerance in each (benchmarks/results/cpu-precision-*.json)."""
    rows = [row for path in sorted(RESULTS.glob("cpu-precision-*.json"))
            for row in json.loads(path.read_text())["precision_check"]]
    for method in precision_module.BF16_METHODS:
        measured = {(r["set_name"], r["scale"]): r for r in rows if r["method"] == method and r["precision"] == "bf16"}
        for set_name in ("Set5", "Set14"):
            for scale in (2.0, 4.0, 8.0):
                row = measured[(set_name, scale)]
                assert row["trained"], f"{method}: measured with untrained weights"
                assert abs(row["delta_db"]) <= precision_module.PSNR_TOLERANCE_DB, (method, set_name, scale)
