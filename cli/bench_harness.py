"""Speed measurements behind `main.py bench`, in one import for cli/bench.py,
benchmarks/ and the tests; each concern lives in its own module:

- cli/bench_core.py: viewport decodes, encoders, FLOPs per output pixel and
  the fraction of the device's measured peak they reach;
- cli/bench_viewer.py: the viewer's latency from a view request to the first
  thing a pane shows, and a large image opened and zoomed within memory;
- cli/bench_precision.py: the PSNR cost of reduced precision;
- cli/bench_report.py: the records, the Markdown table and the JSON written
  (with the device's name) under benchmarks/results/.
"""

from __future__ import annotations

from .bench_core import (
    Loader,
    Timing,
    add_decodes,
    flops_per_pixel,
    measured_peak_tflops,
    median_ms,
    new_report,
    set_threads,
    sync,
    synthetic_image,
    textured_image,
    time_runs,
)
from .bench_precision import PRECISION_VARIANTS, add_precision_check, default_check_precisions
from .bench_report import (
    DEFAULT_CANDIDATES,
    RESULTS_DIR,
    BenchReport,
    DecodeTiming,
    LargeImageTiming,
    LatencyTiming,
    PrecisionDelta,
    chosen_precisions,
    format_table,
    write_report,
)
from .bench_viewer import CompetingLoad, add_large, add_latency, default_tile, reset_peak_rss, rss_mb

__all__ = [
    "DEFAULT_CANDIDATES", "PRECISION_VARIANTS", "RESULTS_DIR", "BenchReport", "CompetingLoad", "DecodeTiming",
    "LargeImageTiming", "LatencyTiming", "Loader", "PrecisionDelta", "Timing", "add_decodes", "add_large",
    "add_latency", "add_precision_check", "chosen_precisions", "default_check_precisions", "default_tile",
    "flops_per_pixel", "format_table", "measured_peak_tflops", "median_ms", "new_report", "reset_peak_rss",
    "rss_mb", "set_threads", "sync", "synthetic_image", "textured_image", "time_runs", "write_report",
]
