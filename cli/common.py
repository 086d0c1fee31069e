"""What the sub-commands share: exit codes, the two kinds of error a command
reports in one line, the parsers of `--methods` and `METHOD=PATH`, and the
options every sub-command defines the same way: `--precision` and the zoom
limit. Never imports Qt (nor torch: parsing needs no model)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from inference.render.view import MAX_ZOOM

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# The largest zoom (output pixels per input pixel) any sub-command accepts: the viewer's.
ZOOM_LIMIT = MAX_ZOOM

# What --precision accepts: "auto" and inference.precision.PRECISIONS, spelt out
# because that module loads torch (tests/test_cli.py checks that they agree).
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


class UsageError(ValueError):
    """A bad command-line value; exit code 2."""


class CommandError(RuntimeError):
    """The work could not be done; exit code 1."""


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    """argparse's own errors (unknown option, missing argument) as one line too."""

    def error(message: str) -> None:
        parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message} (see --help)\n")

    parser.error = error  # type: ignore[method-assign,assignment]


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_reporting(prog: str, body: Callable[[], int]) -> int:
    """`body()`, with a UsageError or CommandError reported as one line on
    stderr (prefixed with `prog`) and turned into its exit code."""
    try:
        return body()
    except UsageError as error:
        say(f"{prog}: {error}")
        return EXIT_USAGE
    except CommandError as error:
        say(f"{prog}: {error}")
        return EXIT_FAILED


def parse_methods(text: str, known: Sequence[str]) -> list[str]:
    """`--methods`: 'all' (every known method, in order) or names separated by commas."""
    if text.strip() == "all":
        return list(known)
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise UsageError(f"--methods names no method; known: {', '.join(known)}")
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise UsageError(f"unknown method {', '.join(unknown)}; known: {', '.join(known)}")
    return methods


def parse_method_paths(items: Sequence[str], known: Sequence[str], option: str = "--weights") -> dict[str, str]:
    """Repeated `METHOD=PATH` options -> {method: path}."""
    paths: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise UsageError(f"{option} wants METHOD=PATH, got {item!r}")
        if name not in known:
            raise UsageError(f"{option}: unknown method {name!r}; known: {', '.join(known)}")
        paths[name] = path
    return paths


def add_precision_argument(parser: argparse.ArgumentParser, see_also: str = "") -> None:
    """`--precision`, the same for every sub-command that runs a model."""
    parser.add_argument("--precision", default="auto", choices=list(PRECISION_CHOICES),
                        help="auto (default): each method's default on this device, bf16 where the device runs it "
                             f"natively and it costs the method no PSNR{see_also}, else fp32; fp32 always works; "
                             "fp16 is CUDA-only")
