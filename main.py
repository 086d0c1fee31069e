"""Implicit Zoom: the one entry point.

    python main.py [IMAGE]                 the viewer (the bundled sample without IMAGE)
    python main.py upscale IN --method liif --scale 3.7 -o OUT.png
    python main.py methods                 the methods, their weights and provenance
    python main.py train | evaluate | bench  headless work (see --help of each)
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import sys
from typing import Any, TextIO

from inference.errors import first_line

# Sub-command -> module in cli/ with add_arguments(parser) and run(args) -> int.
# These modules never import Qt, so headless work runs without a display.
COMMANDS = {
    "upscale": "Super-resolve an image (or a region of it) to a file",
    "methods": "List the methods, their weights and where the weights came from",
    "train": "Train a method's weights",
    "import-liif": "Convert the public LIIF release (.pth) into the shipped weights",
    "evaluate": "PSNR/SSIM tables on benchmark sets",
    "bench": "Time encoders and viewport decodes",
}


class OutputStreamError(Exception):
    """Standard output could not be written (a full disk, a closed pipe)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))
        self.errno = error.errno


class _GuardedOutput:
    """Standard output whose failures are told apart from those of the files a
    command reads and writes: they raise OutputStreamError instead of OSError."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as error:
            raise OutputStreamError(error) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise OutputStreamError(error) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _torch_problem() -> str | None:
    """Why torch cannot be imported (not installed, a library that does not
    load, too little memory to map it: a `ulimit -v` of 300 MB), or None."""
    try:
        import torch  # noqa: F401
    except MemoryError:
        return "not enough memory to load PyTorch (check the process's memory limit, e.g. ulimit -v)"
    except (ImportError, OSError) as error:
        first = first_line(error)
        if "memory" in first.lower() or "failed to map" in first.lower():
            return f"not enough memory to load PyTorch ({first})"
        return f"PyTorch cannot be loaded ({first})"
    return None


def _run_command(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"cli.{name.replace('-', '_')}")
    parser = argparse.ArgumentParser(prog=f"main.py {name}", description=COMMANDS[name])
    module.add_arguments(parser)
    # A name that the terminal's encoding cannot show (or bytes that are not
    # UTF-8 in a POSIX path) is printed escaped instead of ending in a traceback.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    real_stdout = sys.stdout
    sys.stdout = _GuardedOutput(real_stdout)
    try:
        parsed = parser.parse_args(argv)
        problem = _torch_problem()
        if problem is not None:
            print(f"main.py {name}: {problem}", file=sys.stderr)
            return 1
        code = int(module.run(parsed) or 0)
        sys.stdout.flush()
        return code
    except OutputStreamError as error:
        # Nothing more can reach standard output; what the command wrote to files stays.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), real_stdout.fileno())
        if error.errno != errno.EPIPE:  # a reader that went away is not worth a message
            print(f"main.py {name}: cannot write to standard output ({error})", file=sys.stderr)
        return 1
    finally:
        sys.stdout = real_stdout


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return _run_command(argv[0], argv[1:])
    parser = argparse.ArgumentParser(
        prog="main.py", usage=f"%(prog)s [-h] [--device DEVICE] [image]\n       %(prog)s {{{','.join(COMMANDS)}}} ...",
        description="Implicit Zoom: the viewer, or a headless sub-command (each has its own --help).",
        epilog="sub-commands:\n" + "\n".join(f"  {k:<12}{v}" for k, v in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", help="image to open (default: the bundled sample)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    args = parser.parse_args(argv)
    from app.display_check import display_problem

    problem = display_problem()
    if problem is not None:  # Qt would abort with a core dump instead
        print(problem, file=sys.stderr)
        return 2
    from app.main_window import run_gui

    return run_gui(args.image, device=args.device)


if __name__ == "__main__":
    sys.exit(main())
