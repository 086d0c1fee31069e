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
