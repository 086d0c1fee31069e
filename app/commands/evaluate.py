"""`main.py evaluate`: PSNR/SSIM tables on the benchmark sets (protocol in inference/evaluate.py).

    python main.py evaluate --methods all --data ../shared/data/eval --scales 2,3,4,6,8,12
    python main.py evaluate --methods bicubic,liif --sets Set5 --scales 4 --weights liif=runs/liif/last.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UsageError, one_line_errors, parse_method_paths, parse_methods, run_reporting

DEFAULT_OUT = "benchmarks/results/eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    one_line_errors(parser)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("--methods", default="all", help="comma-separated method names (bicubic included), or 'all'")
    parser.add_argument("--data", default="../shared/data/eval", help="folder holding one folder per benchmark set")
    parser.add_argument("--scales", default="2,3,4,6,8,12", help="comma-separated scale factors")
    parser.add_argument("--sets", default=None, help="comma-separated set names (default: every folder under --data)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="path stem of the results: writes OUT.json and OUT.md")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda ...")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each set (quick looks)")
    parser.add_argument("--weights", action="append", default=[], metavar="METHOD=PATH",
                        help="evaluate METHOD with this checkpoint instead of the shipped one (repeatable)")


def run(args: argparse.Namespace) -> int:
    return run_reporting("evaluate", lambda: _run(args))


def _parse_scales(text: str) -> list[float]:
    try:
        scales = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--scales must be numbers separated by commas, got {text!r}") from None
    if not scales or any(not s >= 1 for s in scales):
        raise UsageError(f"scales must be >= 1, got {text!r}")
    return scales


def _run(args: argparse.Namespace) -> int:
    from inference.catalog import all_methods
    from inference.evaluate import evaluate

    known = all_methods()
    methods = parse_methods(args.methods, known)
    scales = _parse_scales(args.scales)
    weights = parse_method_paths(args.weights, known)
    sets = [s.strip() for s in args.sets.split(",")] if args.sets else None
    try:
        report = evaluate(methods, args.data, scales, sets, device=args.device, limit=args.limit, weights=weights,
                          progress=lambda line: print(line, flush=True))
    except (ValueError, KeyError, FileNotFoundError) as error:  # a set, folder or weights file that is not there
        raise UsageError(str(error.args[0] if isinstance(error, KeyError) and error.args else error)) from None
    print()
    print(report.markdown())
    json_path, md_path = report.write(Path(args.out))
    print(f"written: {json_path}, {md_path}")
    return 0
