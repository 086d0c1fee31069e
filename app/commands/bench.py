"""`main.py bench`: time viewport decodes and encoders per method and device."""

from __future__ import annotations

import argparse

from inference.bench import RESULTS_DIR, format_table, run_bench, write_report


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        w, _, h = item.lower().partition("x")
        out.append((int(w), int(h)))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default="all", help="comma-separated method names, or 'all'")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"],
                        help="half precision is CUDA-only; see README for its PSNR effect")
    parser.add_argument("--input-size", type=int, default=512, help="side of the square test input (LR pixels)")
    parser.add_argument("--sizes", default="1920x1080,960x540", help="viewport output sizes")
    parser.add_argument("--zooms", default="2,4,8,16,30")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (median reported)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per case before fewer runs are taken")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder for the JSON and Markdown results")
    parser.add_argument("--name", default=None, help="file stem for the results")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    methods = None if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    report = run_bench(methods, args.device, input_size=args.input_size, sizes=_sizes(args.sizes),
                       zooms=[float(z) for z in args.zooms.split(",")], runs=args.runs,
                       precision=args.precision, budget_s=args.budget)
    print()
    print(format_table(report))
    path = write_report(report, Path(args.out), args.name)
    print(f"\nwritten: {path}")
    return 0
