"""`main.py upscale`: super-resolve an image, or a region of it, to a file;
or several images (files, folders) into a folder.

    python main.py upscale IN.png --method liif --scale 3.7 -o OUT.png
    python main.py upscale IN.png --size 1920x1080 --region 10,20,480,270 -o crop.tif --bits 16
    python main.py upscale photos/ extra.jpg --method liif --scale 4 -o upscaled/

Every problem a user can cause (bad file, bad number, unwritable output,
unusable checkpoint) ends in one line on stderr and a non-zero exit code.
Never imports Qt.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.output_plan import DEFAULT_SCALE
from inference.registry import DEFAULT_METHOD

from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ZOOM_LIMIT,
    CommandError,
    UsageError,
    add_precision_argument,
    one_line_errors,
    run_reporting,
    say,
)

if TYPE_CHECKING:
    import torch

    from inference.upscaler import Upscaler

# Largest --size side accepted as a number at all (the zoom and memory limits refuse far less).
MAX_SIZE_SIDE = 10**9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    one_line_errors(parser)
    parser.add_argument("input", nargs="+",
                        help="image to super-resolve (PNG, JPEG, WebP, TIFF, BMP, GIF); several images or "
                        "folders upscale each image into the -o folder")
    parser.add_argument("-o", "--output", required=True,
                        help="output file; the format follows the extension: .png .tif .tiff .webp .jpg. "
                        "With several inputs or a folder: a folder, where each image is written as "
                        "NAME_METHOD_xSCALE.png and images already there are skipped")
    parser.add_argument("--method", default=DEFAULT_METHOD,
                        help=f"method name (see `main.py methods`); default {DEFAULT_METHOD}")
    parser.add_argument("--scale", default=None,
                        help=f"output pixels per input pixel, e.g. 3.7 (default {DEFAULT_SCALE:g})")
    parser.add_argument("--size", default=None, help="exact output size WxH in pixels, instead of --scale")
    parser.add_argument("--region", default=None,
                        help="x,y,w,h in input pixels (fractions allowed): upscale only this rectangle; "
                        "write --region=-2,0,10,10 when x starts with a minus sign")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--weights", default=None, help="checkpoint file instead of the shipped weights")
    parser.add_argument("--model", default=None, metavar="FILE",
                        help="your own super-resolution network file (.safetensors or .pth; ESRGAN, Real-ESRGAN, "
                        "SwinIR, HAT ... as spandrel recognises them) instead of --method; see docs/own-models.md")
    add_precision_argument(parser)
    parser.add_argument("--bits", default="8", help="8 or 16 bits per channel (16: .png or .tif only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, notes or summary")
    parser.add_argument("--overwrite-input", action="store_true",
                        help="allow -o to name the input file itself (refused otherwise)")


# ---------------------------------------------------------------- parsing values


def parse_scale(text: str, limit: float) -> float:
    # Python's float() also reads "1_0" as 10 and "nan" / "inf": none is a scale.
    if "_" in text:
        raise UsageError(f"--scale must be a plain number, got {text!r} (underscores are not read)")
    try:
        scale = float(text)
    except ValueError:
        raise UsageError(f"--scale must be a number, got {text!r}") from None
    if not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"--scale must be a positive finite number, got {text!r}")
    if scale > limit:
        raise UsageError(f"--scale {scale:g} is over the limit of {limit:g}")
    return scale


_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"--size must look like 1920x1080, got {text!r}")
    if any(len(match.group(i).lstrip("0")) > len(str(MAX_SIZE_SIDE)) for i in (1, 2)):
        raise UsageError(f"--size is over the limit of {MAX_SIZE_SIDE} pixels a side")
    width, height = int(match.group(1)), int(match.group(2))
    if max(width, height) > MAX_SIZE_SIDE:
        raise UsageError(f"--size is over the limit of {MAX_SIZE_SIDE} pixels a side")
    if width <= 0 or height <= 0:
        raise UsageError(f"--size must be at least 1x1, got {text!r}")
    return width, height


def parse_region(text: str) -> tuple[float, float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise UsageError(f"--region must be x,y,w,h (four numbers), got {text!r}")
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise UsageError(f"--region must be x,y,w,h (four numbers), got {text!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise UsageError(f"--region values must be finite, got {text!r}")
    if w <= 0 or h <= 0:
        raise UsageError(f"--region width and height must be positive, got {text!r}")
    return x, y, w, h


def parse_bits(text: str) -> int:
    if text.strip() not in ("8", "16"):
        raise UsageError(f"--bits must be 8 or 16, got {text!r}")
    return int(text)


# ---------------------------------------------------------------- running


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so temporary files go."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP handled like SIGINT while a command runs (only the
    main thread can set handlers; elsewhere the defaults stay)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, unwind) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(args: argparse.Namespace) -> int:
    try:
        with _signals_unwind():
            return run_reporting("error", lambda: _run(args))
    except (MemoryError, RuntimeError) as error:
        from inference.upscaler import is_out_of_memory  # torch is loaded by now: the work ran

        if not is_out_of_memory(error):
            raise
        say("error: out of memory (the machine's, or this process's limit: ulimit -v, a container's "
            "memory.max); nothing was written; try a smaller --region or --scale")
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("interrupted; nothing was written")
        return EXIT_INTERRUPTED
    except Terminated as stop:
        say(f"stopped by {signal.Signals(stop.signum).name}; nothing was written")
        return 128 + stop.signum


def _scale_and_size(args: argparse.Namespace, max_zoom: float) -> tuple[float | None, tuple[int, int] | None]:
    """--scale or --size (not both), checked; None for the one not given."""
    if args.scale is not None and args.size is not None:
        raise UsageError("give --scale or --size, not both")
    scale = parse_scale(args.scale, max_zoom) if args.scale is not None else None
    size = parse_size(args.size) if args.size is not None else None
    return scale, size


def _check_method(args: argparse.Namespace) -> None:
    """--method names a known method, and --weights fits it."""
    from inference import catalog

    _use_model(args)
    methods = catalog.all_methods()
    if args.method not in methods:
        raise UsageError(f"unknown method {args.method!r}; known: {', '.join(methods)}")
    if args.weights is not None and not args.weights.strip():
        raise UsageError("--weights is empty; give a checkpoint file, or leave --weights out for the shipped weights")
    if catalog.is_interpolation(args.method) and args.weights:
        raise UsageError(f"{args.method} has no weights; --weights is for the learned methods")


def _use_model(args: argparse.Namespace) -> None:
    """--model FILE: the file becomes a method ("model:<stem>", inference.user_models) and --method names it."""
    if getattr(args, "model", None) is None:
        return
    from inference import user_models

    if args.method != DEFAULT_METHOD:
        raise UsageError("give --method or --model, not both")
    if args.weights is not None:
        raise UsageError("--weights is for this project's methods; a --model file is its own weights")
    if not Path(args.model).is_file():
        raise UsageError(f"--model {args.model}: no such file")
    args.method = user_models.add(args.model)


def _device(args: argparse.Namespace) -> torch.device:
    """The torch device --device names, or a usage error in one line."""
    from inference.upscaler import pick_device

    name = args.device.strip().lower()
    if name.startswith("cpu") and name != "cpu":
        raise UsageError(f"unknown device {args.device!r}: there is one CPU device, \"cpu\" (no index)")
    try:
        return pick_device(args.device)
    except (ValueError, RuntimeError) as error:
        message = str(error).splitlines()[0] if isinstance(error, ValueError) else \
            f"unknown device {args.device!r} (use auto, cpu, cuda or cuda:N)"
        raise UsageError(message) from None


def _load_upscaler(args: argparse.Namespace, device: torch.device, **options: Any) -> Upscaler:
    """The method with --weights (else the shipped ones); an unusable file is a one-line failure."""
    from inference import catalog, checkpoint

    try:
        return catalog.load_upscaler(args.method, device, weights=args.weights, **options)
    except checkpoint.CheckpointError as error:
        raise CommandError(str(error)) from None
    except (ValueError, KeyError) as error:
        raise CommandError(str(error.args[0] if error.args else error)) from None


def _warn_untrained(upscaler: Upscaler) -> None:
    # Always said, even with --quiet: the image would otherwise pass for a result.
    say(f"warning: {upscaler.display} has no trained weights (none shipped in resources/weights, no --weights): "
        "the output comes from random weights and is not a result")


def _run(args: argparse.Namespace) -> int:
    from inference import catalog, imageio
    from inference.batch import is_batch
    from inference.export import ExportError, check_export_size, export_region
    from inference.files import reading_problem, same_file
    from inference.geometry import Lattice, Region
    from inference.output_plan import PlanError, plan_output
    from inference.piecewise import Cancelled
    from inference.upscaler import DecodeError, device_label, is_out_of_memory

    if is_batch(list(args.input), args.output):
        return _run_batch(args)
    args.input = args.input[0]
    quiet = bool(args.quiet)
    bits = parse_bits(args.bits)
    scale, size = _scale_and_size(args, ZOOM_LIMIT)
    region_arg = parse_region(args.region) if args.region is not None else None
    _check_method(args)
    try:
        fmt = imageio.output_format(args.output)
    except imageio.ImageSaveError as error:
        raise UsageError(str(error)) from None
    if bits not in imageio.FORMATS[Path(args.output).suffix.lower()][1]:
        raise UsageError(f"{fmt} cannot hold {bits}-bit images; use .png or .tif for 16-bit output")
    device = _device(args)
    if reading_problem(args.input) is None and same_file(args.input, args.output) and not args.overwrite_input:
        raise UsageError(f"-o {args.output} is the input file itself; refused (give --overwrite-input to replace it)")

    # Everything about the output is decided from the input's header, before
    # any pixel is decoded: an impossible output is refused in milliseconds.
    try:
        header = imageio.read_header(args.input)
    except imageio.ImageLoadError as error:
        raise CommandError(str(error)) from None
    try:
        plan = plan_output(args.method, width=header.width, height=header.height, region=region_arg, scale=scale,
                           size=size, max_zoom=ZOOM_LIMIT, source=args.input)
    except PlanError as error:
        raise UsageError(f"--{error}" if str(error).startswith("region ") else str(error)) from None
    if plan.clipped and args.size is not None:
        # The clipped region has another aspect than the one asked for: --size
        # would stretch it with a different zoom in x and y.
        raise UsageError(f"--region {args.region} reaches outside the {header.width} x {header.height} image; "
                         "with --size that would stretch what is left unevenly: give a region inside the image")
    region, size, record = plan.region, plan.size, plan.lattice
    zoom_x, zoom_y = record.zx, record.zy
    if plan.clipped and not quiet:
        say(f"note: region clipped to the image: {region.x:g},{region.y:g},{region.w:g},{region.h:g}")
    try:
        imageio.check_output(args.output, size[0], size[1], bits)
        check_export_size(size[0], size[1], bits)
    except (imageio.ImageSaveError, ExportError) as error:
        raise CommandError(str(error)) from None

    # At or below 1:1 the antialiased bicubic draws, as in the viewer's panes and exports.
    if plan.note:
        upscaler = catalog.load_upscaler(plan.method, device)
        if not quiet:
            say(f"note: zoom {zoom_x:.4g} x {zoom_y:.4g}: {plan.note}; {catalog.display_name(args.method)} "
                "was asked for")
    else:
        upscaler = _load_upscaler(args, device, precision=args.precision)
        if upscaler.weights.in_training:
            say(f"warning: {upscaler.display} weights are {upscaler.weights.summary}")
        elif not upscaler.weights.trained:
            _warn_untrained(upscaler)

    # A region is read with the margin its decode needs, and only that part is
    # converted to float (exact: the decode reads nothing beyond the margin).
    box = None
    if region_arg is not None:
        margin = upscaler.input_margin(min(zoom_x, zoom_y))
        box = (math.floor(region.x) - margin, math.floor(region.y) - margin,
               math.ceil(region.x + region.w) + margin, math.ceil(region.y + region.h) + margin)
    try:
        loaded = imageio.load_image(args.input, box=box)
    except imageio.ImageLoadError as error:
        raise CommandError(str(error)) from None
    if not quiet:
        for note in loaded.notes:
            say(f"note: {args.input}: {note}")
        if loaded.alpha is not None and not imageio.holds_alpha(args.output):
            say(f"note: {fmt} cannot hold transparency: the alpha channel is dropped")
    x0, y0, x1, y1 = loaded.box if loaded.box is not None else (0, 0, loaded.width, loaded.height)
    if (loaded.box is None and (x1, y1) != (header.width, header.height)) or \
            not (x0 <= region.x and y0 <= region.y and region.x + region.w <= x1 and region.y + region.h <= y1):
        raise CommandError(f"{args.input}: the decoded image does not match its header's size")
    lattice = Lattice.from_region(Region(region.x - x0, region.y - y0, region.w, region.h), size[0], size[1])
    metadata = plan.metadata
    try:
        features = upscaler.encode(loaded.rgb)
        with _progress_bar(quiet, f"{upscaler.display}") as progress:
            path = export_region(upscaler, features, lattice, args.output, bits=bits, metadata=metadata,
                                 progress=progress, recorded=record, alpha=loaded.alpha)
    except (ExportError, Cancelled, DecodeError) as error:
        raise CommandError(str(error)) from None
    except (RuntimeError, MemoryError) as error:
        if is_out_of_memory(error):
            raise CommandError(f"out of memory on {device_label(device)}; try a smaller --region or --scale"
                               + ("" if device.type == "cpu" else ", or --device cpu")) from None
        raise
    if not quiet:
        print(f"wrote {path}: {size[0]} x {size[1]} pixels, {upscaler.display}, zoom {lattice.zx:.4g} x "
              f"{lattice.zy:.4g}, {bits}-bit, on {device_label(device)}"
              + (f" in {upscaler.precision}" if upscaler.precision not in (None, "fp32") else ""))
    return 0


def _run_batch(args: argparse.Namespace) -> int:
    """Each input image (folders: the images directly in them) into the -o
    folder, through the same exporter; one failure does not stop the rest."""
    from inference.batch import BatchReport, expand_inputs, plan_batch, run_batch
    from inference.upscaler import device_label

    quiet = bool(args.quiet)
    bits = parse_bits(args.bits)
    if args.region is not None:
        raise UsageError("--region is for one image; leave it out when upscaling several")
    scale, size = _scale_and_size(args, ZOOM_LIMIT)
    if size is None and scale is None:
        scale = DEFAULT_SCALE
    _check_method(args)
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {args.output} is a file; with several inputs or a folder, -o names a folder")
    device = _device(args)
    left_out: list[Path] = []
    sources, problems = expand_inputs(list(args.input), left_out)
    for path, why in problems:
        say(f"error: {path}: {why}")
    if left_out and not quiet:
        say(f"note: {len(left_out)} image(s) written by this app left out as inputs (e.g. {left_out[0].name})")
    if not sources:
        raise CommandError("no images to upscale")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot make the folder {out_dir}: {error.strerror or error}") from None
    upscaler = _load_upscaler(args, device, precision=args.precision)
    if upscaler.weights.in_training:
        say(f"warning: {upscaler.display} weights are {upscaler.weights.summary}")
    elif not upscaler.weights.trained:
        _warn_untrained(upscaler)
    items = plan_batch(sources, out_dir, args.method, scale, size)

    def said(item: Any, outcome: str, message: str) -> None:
        if outcome == "failed":
            say(f"error: {item.source}: {message}")
        elif not quiet:
            written = outcome == "written"
            print(f"{'wrote' if written else 'skipped'} {item.output if written else item.source}"
                  + ("" if written else f" ({message}: {item.output.name})"), flush=True)

    report = BatchReport()
    try:
        run_batch(items, upscaler, scale=scale, size=size, bits=bits, max_zoom=ZOOM_LIMIT, on_item=said,
                  report=report)
    except KeyboardInterrupt:
        say(f"interrupted after {report.written_so_far()} written; the image in progress was not written, "
            "those before it were (a rerun skips them)")
        return EXIT_INTERRUPTED
    except Terminated as stop:
        say(f"stopped by {signal.Signals(stop.signum).name} after {report.written_so_far()} written; the image in "
            "progress was not written, those before it were (a rerun skips them)")
        return 128 + stop.signum
    failed = len(report.failed) + len(problems)
    if not quiet or failed:
        say(f"{report.summary()} on {device_label(device)}"
            + (f"; {len(problems)} input(s) missing, unreadable or not read" if problems else ""))
    return EXIT_FAILED if failed else 0


class _progress_bar:
    """tqdm on stderr (shown only on a terminal), fed by export's tile callback."""

    def __init__(self, quiet: bool, label: str) -> None:
        self.quiet = quiet
        self.label = label
        self.bar: Any = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if self.quiet:
            return None

        def update(done: int, total: int) -> None:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=self.label, unit="tile", file=sys.stderr,
                                disable=None, leave=False)  # None: only on a terminal
            self.bar.update(done - self.bar.n)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
