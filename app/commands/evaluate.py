"""`main.py evaluate`: PSNR/SSIM tables on the benchmark sets (protocol in inference/evaluate.py).

    python main.py evaluate --methods all --data ../shared/data/eval --scales 2,3,4,6,8,12
    python main.py evaluate --methods bicubic,liif --sets Set5 --scales 4 --weights liif=runs/liif/last.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_OUT = "benchmarks/results/eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("--methods", default="all", help="comma-separated method names (bicubic included), or 'all'")
    parser.add_argument("--data", default="../shared/data/eval", help="folder holding one folder per benchmark set")
    parser.add_argument("--scales", default="2,3,4,6,8,12", help="comma-separated scale factors")
    parser.add_argument("--sets", default=None, help="comma-separated set names (default: every folder under --data)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="path stem of the results: writes OUT.json and OUT.md")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda ...")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="auto: each method's default on this device (bf16 where the device has it natively "
                             "and it costs no PSNR), else fp32; fp32 always works")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each set (quick looks)")
    parser.add_argument("--weights", action="append", default=[], metavar="METHOD=PATH",
                        help="evaluate METHOD with this checkpoint instead of the shipped one (repeatable)")


def run(args: argparse.Namespace) -> int:
    from inference.catalog import all_methods
    from inference.evaluate import evaluate

    try:
        methods = all_methods() if args.methods.strip() == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
        known = set(all_methods())
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise ValueError(f"unknown method {', '.join(unknown)}; known: {', '.join(all_methods())}")
        scales = [float(s) for s in args.scales.split(",") if s.strip()]
        if not scales or any(s < 1 for s in scales):
            raise ValueError(f"scales must be >= 1, got {args.scales!r}")
        sets = [s.strip() for s in args.sets.split(",")] if args.sets else None
        weights = {}
        for item in args.weights:
            name, sep, path = item.partition("=")
            if not sep:
                raise ValueError(f"--weights wants METHOD=PATH, got {item!r}")
            weights[name.strip()] = path.strip()
        report = evaluate(methods, args.data, scales, sets, device=args.device, limit=args.limit, weights=weights,
                          progress=lambda line: print(line, flush=True), precision=args.precision)
    except (ValueError, KeyError, FileNotFoundError) as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    print()
    print(report.markdown())
    json_path, md_path = report.write(Path(args.out))
    print(f"written: {json_path}, {md_path}")
    return 0
