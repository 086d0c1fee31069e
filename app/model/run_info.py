"""Where and in which precision a pane's method runs, and what Preferences
chose, in words for the user (a pane label's tooltip, the status bar). No Qt,
no torch: the caller resolves the device and precisions (inference.precision).
"""

from __future__ import annotations

PRECISION_WORDS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
DEVICE_CHOICE_WORDS = {"auto": "automatic", "cpu": "CPU", "cuda": "CUDA"}
PRECISION_CHOICE_WORDS = {"auto": "automatic (bf16 where it costs no PSNR)", "fp32": "fp32 (exact)",
                          "bf16": "bf16 for every method"}


def device_words(device_type: str) -> str:
    """'the CPU', 'the GPU (CUDA)'; a device type not known here as given."""
    return {"cpu": "the CPU", "cuda": "the GPU (CUDA)"}.get(device_type, device_type or "the device")


def precision_words(precision: str) -> str:
    return PRECISION_WORDS.get(precision, precision)


def run_description(display: str, device_type: str, decoder: str | None, encoder: str | None = None,
                    *, interpolation: bool = False, ground_truth: bool = False) -> str:
    """One line: 'LIIF on the CPU in bfloat16 (decoder), float32 (encoder)'.
    `decoder`/`encoder`: the parts' precisions ("fp32", "bf16", "fp16"); None
    while not known. An interpolation computes in float32; the ground truth is
    not computed."""
    if ground_truth:
        return f"{display}: the opened image itself, nothing is computed"
    where = f"{display} on {device_words(device_type)}"
    if interpolation:
        return f"{where} in float32 (interpolation)"
    if decoder is None:
        return where
    if encoder is None or encoder == decoder:
        return f"{where} in {precision_words(decoder)}"
    return f"{where} in {precision_words(decoder)} (decoder), {precision_words(encoder)} (encoder)"


def _mib(value: int) -> str:
    return f"{value} MiB"


def preferences_summary(device: str, precision: str, worker_threads: int, tile_cache_mb: int,
                        feature_cache_mb: int, resolved_device: str, automatic_threads: int | None = None) -> str:
    """'device automatic (CPU here), precision automatic (bf16 where it costs no
    PSNR), 1 worker thread, caches 512 MiB tiles + 2048 MiB features'.
    `resolved_device`: "cpu" or "cuda", what `device` means on this machine;
    `automatic_threads`: how many threads 0 (automatic) gives, when known."""
    here = DEVICE_CHOICE_WORDS.get(resolved_device, resolved_device)
    device_text = (f"automatic ({here} here)" if device == "auto"
                   else DEVICE_CHOICE_WORDS.get(device, device))
    precision_text = PRECISION_CHOICE_WORDS.get(precision, precision)
    if worker_threads:
        threads = f"{worker_threads} worker thread{'s' if worker_threads != 1 else ''}"
    elif automatic_threads:
        threads = f"worker threads automatic (up to {automatic_threads} here)"
    else:
        threads = "worker threads automatic"
    return (f"device {device_text}, precision {precision_text}, {threads}, "
            f"caches {_mib(tile_cache_mb)} tiles + {_mib(feature_cache_mb)} features")
