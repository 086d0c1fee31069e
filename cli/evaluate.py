"""`main.py evaluate`: PSNR/SSIM tables on the benchmark sets (protocol in inference/evaluate.py).

    python main.py evaluate --methods all --data ../shared/data/eval --scales 2,3,4,6,8,12
    python main.py evaluate --methods bicubic,liif --sets Set5 --scales 4 --weights liif=runs/liif/last.safetensors
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ZOOM_LIMIT,
    UsageError,
    add_precision_argument,
    one_line_errors,
    parse_method_paths,
    parse_methods,
    say,
)

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
    add_precision_argument(parser)
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each set (quick looks)")
    parser.add_argument("--weights", action="append", default=[], metavar="METHOD=PATH",
                        help="evaluate METHOD with this checkpoint instead of the shipped one (repeatable)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FILE",
                        help="also evaluate your own super-resolution network file as method NAME (repeatable; "
                        "see docs/own-models.md)")


def _parse_scales(text: str) -> list[float]:
    scales = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--scales must be numbers, got {item!r}") from None
        if not math.isfinite(value) or value < 1 or value > ZOOM_LIMIT:
            raise UsageError(f"--scales must be finite numbers from 1 to {ZOOM_LIMIT:g}, got {item!r}")
        scales.append(value)
    if not scales:
        raise UsageError(f"--scales must list at least one scale, got {text!r}")
    return scales


def _check_out(stem: Path) -> None:
    """Everything about writing OUT.json and OUT.md that can be checked before
    the evaluation runs (a missing folder is fine: it is made)."""
    from inference.files import name_too_long, writing_problem

    for target in (stem.with_suffix(".json"), stem.with_suffix(".md")):
        too_long = name_too_long(target)
        if too_long:
            raise UsageError(f"--out {target}: {too_long}")
        folder = target.parent if str(target.parent) else Path(".")
        existing = next((p for p in (folder, *folder.parents) if os.path.lexists(p)), Path("."))
        if existing == folder:
            problem = writing_problem(target)
        elif not existing.is_dir():
            problem = f"{existing} is a file, not a folder"
        elif not os.access(existing, os.W_OK | os.X_OK):
            problem = f"the folder {folder} cannot be made: {existing} is not writable"
        else:
            problem = None
        if problem:
            raise UsageError(f"--out {target}: {problem}")


def _check_data(root: str, set_names: list[str]) -> None:
    """Refuse, before any model loads, a data folder with nothing to measure."""
    from inference.files import IMAGE_SUFFIXES, list_images

    if not set_names:
        raise UsageError(f"--data {root} holds no set folders: it should hold one folder of images per "
                         "benchmark set (e.g. Set5/, Set14/)")
    empty = [name for name in set_names if not list_images(Path(root) / name)]
    if empty:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(empty)} under {root}")


def _use_models(items: list[str]) -> list[str]:
    """--model NAME=FILE: each file becomes method NAME (inference.user_models); their names."""
    from inference import registry, user_models

    names = []
    for item in items:
        name, sep, path = (part.strip() for part in item.partition("="))
        if not sep or not name or not path:
            raise UsageError(f"--model wants NAME=FILE, got {item!r}")
        if name in registry.all_names():
            raise UsageError(f"--model {name}: that name is a method of this project's; give your model another")
        if not Path(path).is_file():
            raise UsageError(f"--model {name}={path}: no such file")
        try:
            names.append(user_models.add(path, name=name))
        except ValueError as error:
            raise UsageError(f"--model {name}: {error}") from None
    return names


def run(args: argparse.Namespace) -> int:
    from inference.catalog import all_methods
    from inference.checkpoint import CheckpointError
    from inference.evaluate import evaluate, list_sets
    from inference.imageio import ImageLoadError
    from inference.upscaler import pick_device

    try:
        models = _use_models(args.model)
        known = all_methods()
        methods = parse_methods(args.methods, known)
        methods += [m for m in models if m not in methods]
        scales = _parse_scales(args.scales)
        if args.limit is not None and args.limit < 1:
            raise UsageError(f"--limit must be at least 1, got {args.limit}")
        sets = [s.strip() for s in args.sets.split(",")] if args.sets else None
        weights = parse_method_paths(args.weights, known)
        for name in weights:
            if name not in methods:
                raise UsageError(f"--weights names {name!r}, which is not among --methods ({', '.join(methods)})")
        try:
            pick_device(args.device)
        except (ValueError, RuntimeError) as error:
            raise UsageError(str(error).splitlines()[0] if isinstance(error, ValueError) else
                             f"unknown device {args.device!r} (use auto, cpu, cuda or cuda:N)") from None
        _check_out(Path(args.out))
        _check_data(args.data, list_sets(args.data, sets))
    except (UsageError, FileNotFoundError) as error:
        say(f"evaluate: {error}")
        return EXIT_USAGE
    try:
        report = evaluate(methods, args.data, scales, sets, device=args.device, limit=args.limit, weights=weights,
                          progress=lambda line: print(line, flush=True), precision=args.precision)
        print()
        print(report.markdown())
        json_path, md_path = report.write(Path(args.out))
    except (CheckpointError, ImageLoadError, ValueError) as error:
        say(f"evaluate: {error}")
        return EXIT_FAILED
    except KeyError as error:
        say(f"evaluate: {error.args[0] if error.args else error}")
        return EXIT_FAILED
    except OSError as error:  # e.g. a set member vanishing, or the disk filling while the results are written
        say(f"evaluate: {error.filename or args.out}: {error.strerror or error}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("evaluate: interrupted; no results written")
        return EXIT_INTERRUPTED
    print(f"written: {json_path}, {md_path}")
    return 0
