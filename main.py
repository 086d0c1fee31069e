"""Implicit Zoom: the one entry point.

    python main.py [IMAGE]                 the viewer (the bundled sample without IMAGE)
    python main.py upscale IN --method liif --scale 3.7 -o OUT.png
    python main.py methods                 the methods, their weights and provenance
    python main.py train | evaluate | bench  headless work (see --help of each)
"""

from __future__ import annotations

import argparse
import importlib
import sys

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        name = argv[0]
        module = importlib.import_module(f"cli.{name.replace('-', '_')}")
        parser = argparse.ArgumentParser(prog=f"main.py {name}", description=COMMANDS[name])
        module.add_arguments(parser)
        return int(module.run(parser.parse_args(argv[1:])) or 0)
    parser = argparse.ArgumentParser(
        prog="main.py", description="Implicit Zoom viewer. Sub-commands: "
        + "; ".join(f"{k}: {v}" for k, v in COMMANDS.items()))
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
