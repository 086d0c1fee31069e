"""`main.py bench`: time viewport decodes and encoders per method and device,
the viewer's latency to a first picture, a large image within memory, and
(--precision-check) the PSNR cost of half precision.

    python main.py bench                                   # everything, every method
    python main.py bench --methods diif,bicubic --sizes 960x540 --zooms 2,8 --parts decode,latency
    python main.py bench --parts large --methods bicubic,diif --large-size 8000x6000
    python main.py bench --precision-check --data ../shared/data/eval --sets Set5,Set14 --scales 2,4,8
    python main.py bench --precision fp32 --methods liif --parts decode   # fp32 whatever the default
    python main.py bench --parts train --methods liif,diif --threads 1   # seconds per training step
"""

from __future__ import annotations

import argparse
import os

from cli.arg_checks import file_in_the_way
from cli.bench_report import RESULTS_DIR

from .common import (
    EXIT_FAILED,
    CommandError,
    UsageError,
    add_precision_argument,
    one_line_errors,
    parse_method_paths,
    parse_methods,
    run_reporting,
    say,
)

PARTS = ("decode", "latency", "large", "train")
# What a plain `main.py bench` measures: training steps are timed only on request (they run alone).
DEFAULT_PARTS = ("decode", "latency", "large")


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        w, _, h = item.lower().partition("x")
        out.append((int(w), int(h)))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    one_line_errors(parser)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("--methods", default="all", help="comma-separated method names, or 'all'")
    parser.add_argument("--device", default="auto")
    add_precision_argument(parser, see_also=" (see --precision-check)")
    parser.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                        help="torch.compile the decoder, optionally in a mode such as reduce-overhead "
                             "(CUDA graphs); CUDA only, eager elsewhere")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's own)")
    parser.add_argument("--chunk", type=int, default=None, help="points per decoder call (default: the upscaler's)")
    parser.add_argument("--prepare-budget", type=int, default=None, metavar="MB",
                        help="memory for one prepared block (default: the upscaler's)")
    parser.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                        help=f"which measurements: {', '.join(PARTS)} (default {','.join(DEFAULT_PARTS)}; "
                             "train runs alone)")
    parser.add_argument("--input-size", type=int, default=512, help="side of the square test input (LR pixels)")
    parser.add_argument("--sizes", default="1920x1080,960x540", help="viewport output sizes")
    parser.add_argument("--zooms", default="2,4,8,16,30")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (median reported)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per case before fewer runs are taken")
    parser.add_argument("--tile", type=int, default=None,
                        help="viewer tile size (default: the viewer's, 256 CUDA / 128 CPU)")
    parser.add_argument("--latency-runs", type=int, default=3, help="runs per latency case")
    parser.add_argument("--competing", type=int, default=0,
                        help="CPU-bound processes to run beside each latency run (the viewer under load)")
    parser.add_argument("--fixed-threads", action="store_true",
                        help="latency runs keep --threads whatever the load (default: fewer when other "
                             "processes take cores, as the viewer does)")
    parser.add_argument("--latency-budget", type=float, default=30.0,
                        help="seconds after which a latency run stops waiting for the full pane")
    parser.add_argument("--large-size", default="8000x6000", help="size of the synthetic large image")
    parser.add_argument("--large-pane", default="960x540", help="pane size for the large-image views")
    parser.add_argument("--large-zooms", default="fit,1,4", help="views of the large image: 'fit' or zoom factors")
    parser.add_argument("--large-budget", type=float, default=300.0, help="seconds per large-image view at most")
    parser.add_argument("--precision-check", action="store_true",
                        help="instead of timings: PSNR change of bf16 (and fp16 on CUDA) against fp32 per method")
    parser.add_argument("--data", default="../shared/data/eval", help="benchmark sets for --precision-check")
    parser.add_argument("--sets", "--set", dest="sets", default="Set5,Set14",
                        help="comma-separated sets --precision-check uses")
    parser.add_argument("--scales", default="2,4,8", help="scales for --precision-check")
    parser.add_argument("--precisions", default=None,
                        help="reduced precisions for --precision-check (default: bf16,bf16-decoder, plus "
                             "fp16,fp16-features on CUDA); bf16-decoder: fp32 encoder and features, bf16 decoder; "
                             "fp16-features: fp32 decode, fp16 feature storage")
    parser.add_argument("--limit", type=int, default=None, help="first N images of the set only")
    parser.add_argument("--weights", action="append", default=[], metavar="METHOD=PATH",
                        help="checkpoint for METHOD instead of the shipped one (repeatable)")
    parser.add_argument("--train-data", default="../shared/data/train", help="images for --parts train")
    parser.add_argument("--train-images", type=int, default=20, help="how many of them to load for --parts train")
    parser.add_argument("--train-steps", type=int, default=5, help="timed steps per method for --parts train")
    parser.add_argument("--encoder", default="resources/weights/edsr-baseline.safetensors",
                        help="the frozen encoder for --parts train")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder for the JSON and Markdown results")
    parser.add_argument("--name", default=None, help="file stem for the results")


def run(args: argparse.Namespace) -> int:
    return run_reporting("bench", lambda: _run(args))


def _check_values(args: argparse.Namespace) -> None:
    """Values no measurement can use, refused before any measurement starts."""
    if args.input_size < 1:
        raise UsageError(f"--input-size must be at least 1 pixel, got {args.input_size}")
    if args.chunk is not None and args.chunk < 1:
        raise UsageError(f"--chunk must be at least 1 point, got {args.chunk}")
    most = 2 * (os.cpu_count() or 1)  # more competing processes only oversubscribe the CPU
    if not 0 <= args.competing <= most:
        raise UsageError(f"--competing must be 0 to {most} (twice the CPU count), got {args.competing}")
    if (blocker := file_in_the_way(args.out)) is not None:
        raise UsageError(f"--out: {blocker} is a file, not a folder for the results")


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cli import bench_harness as bench
    from inference.catalog import all_methods

    known = all_methods()
    methods = parse_methods(args.methods, known)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad_parts = [p for p in parts if p not in PARTS]
    if bad_parts:
        raise UsageError(f"unknown part {', '.join(bad_parts)}; known: {', '.join(PARTS)}")
    weights = parse_method_paths(args.weights, known)
    _check_values(args)
    options: dict[str, object] = {}
    if args.compile:
        options["compile"] = True if args.compile == "default" else args.compile
    if args.chunk:
        options["chunk"] = args.chunk
    if args.prepare_budget:
        options["prepare_budget_bytes"] = args.prepare_budget << 20
    if "train" in parts and not args.precision_check:
        if len(parts) > 1:
            raise UsageError("--parts train runs alone")
        return _bench_training(args, [m for m in methods if m in _learned()])
    try:
        if args.precision_check:
            report = bench.new_report(args.device, "fp32", args.input_size, args.threads, options, measure_peak=False)
            bench.add_precision_check(report, methods, args.data,
                                      set_name=[s.strip() for s in args.sets.split(",") if s.strip()],
                                      scales=[float(s) for s in args.scales.split(",")],
                                      precisions=[p.strip() for p in args.precisions.split(",") if p.strip()]
                                      if args.precisions else None,
                                      weights=weights, limit=args.limit)
        else:
            report = bench.new_report(args.device, args.precision, args.input_size, args.threads, options)
            sizes = _sizes(args.sizes)
            zooms = [float(z) for z in args.zooms.split(",")]
            if "decode" in parts:
                bench.add_decodes(report, methods, input_size=args.input_size, sizes=sizes, zooms=zooms,
                                  runs=args.runs, budget_s=args.budget)
            if "latency" in parts:
                bench.add_latency(report, methods, input_size=args.input_size, sizes=sizes, zooms=zooms,
                                  runs=args.latency_runs, budget_s=args.latency_budget, tile=args.tile,
                                  competing=args.competing, fit_threads=not args.fixed_threads)
            if "large" in parts:
                large_zooms = [z.strip() if z.strip() == "fit" else float(z) for z in args.large_zooms.split(",")]
                w, h = _sizes(args.large_size)[0]
                bench.add_large(report, methods, image_size=(w, h), pane=_sizes(args.large_pane)[0],
                                zooms=large_zooms, budget_s=args.large_budget, tile=args.tile)
    except (ValueError, FileNotFoundError) as error:
        raise CommandError(str(error)) from None
    print()
    print(bench.format_table(report))
    path = bench.write_report(report, Path(args.out), args.name)
    print(f"\nwritten: {path}")
    if args.precision_check and not any(row.delta_db is not None for row in report.precision_check):
        say("bench: nothing measured (no reduced precision runs on this device)")
        return EXIT_FAILED
    return 0


def _learned() -> list[str]:
    from inference import registry

    return registry.method_names()


def _bench_training(args: argparse.Namespace, methods: list[str]) -> int:
    """Seconds per step at each method's recipe batch, interleaved across the
    configurations (the machine is shared: each round times every one)."""
    import json
    import os
    import sys
    import time
    from pathlib import Path

    import torch

    from inference.upscaler import device_label, pick_device
    from training.data import select
    from training.train import time_steps

    if args.threads:
        torch.set_num_threads(args.threads)
    data = select(args.train_data)
    data.paths = data.paths[: args.train_images]
    encoder = Path(args.encoder)
    configs = {"joint, fp32 (before)": (None, "off"), "frozen encoder, auto precision (after)": (encoder, "auto")}
    rows = []
    for method in methods:
        for label, (frozen, amp) in configs.items():
            t = time_steps(method, data, frozen_encoder=frozen, amp=amp, steps=args.train_steps,
                           device=args.device if args.device != "auto" else "auto")
            rows.append({"method": method, "config": label, "batch": t.batch, "pixels_per_step": t.pixels_per_step,
                         "s_per_step": round(t.wall_s, 3), "cpu_s_per_step": round(t.cpu_s, 3),
                         "samples_per_s": round(t.samples_per_s, 2)})
            print(f"{method:11s} {label:40s} {t.wall_s:7.2f} s/step  {t.cpu_s:6.2f} CPU-s  "
                  f"{t.samples_per_s:6.2f} samples/s", flush=True)
    device = device_label(pick_device(args.device))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report = {"device": device, "torch_threads": torch.get_num_threads(), "load_average_1min": load,
              "date": time.strftime("%Y-%m-%d %H:%M"), "images": len(data.paths), "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or "train-steps"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    lines = [f"Training step time on {device}, {torch.get_num_threads()} torch thread(s), "
             f"1-min load average {load:.1f} when done" if load is not None else f"Training step time on {device}",
             "", "| method | configuration | batch | pixels/step | s/step | CPU-s/step | samples/s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['method']} | {r['config']} | {r['batch']} | {r['pixels_per_step']} | {r['s_per_step']} | "
              f"{r['cpu_s_per_step']} | {r['samples_per_s']} |" for r in rows]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"written: {out / (stem + '.json')}", file=sys.stdout)
    return 0
