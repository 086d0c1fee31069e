"""Speed of a viewport decode by a user's own network (inference.external)
beside LIIF: a 960x540 pane at x4 from a 512x512 image, for a compact and a
heavy architecture with random weights at realistic sizes (speed does not
depend on the weights), and the seam a capped margin leaves on the heavy one.

    nice python benchmarks/external_models.py --name external-models-2026-12-06

Writes benchmarks/results/NAME.json (with the CPU model and its bf16 flags)
and prints a table. Needs the models extra (see pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.bench_harness import textured_image, time_runs  # noqa: E402
from inference.catalog import load_upscaler  # noqa: E402
from inference.external import load_external_model  # noqa: E402
from inference.external.loader import import_spandrel  # noqa: E402
from inference.geometry import Lattice, pane_lattice  # noqa: E402
from inference.upscaler import Upscaler  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PANE = (960, 540)
ZOOM = 4.0


def cpu_info() -> dict[str, Any]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {"model": platform.processor()}
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return {"model": model, "logical_cpus": text.count("processor\t:"), "flags": [f for f in wanted if f in flags]}


def write_networks(folder: Path) -> dict[str, Path]:
    import_spandrel()
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN

    nets = {"compact (SRVGG 64f 16c)": Compact(num_feat=64, num_conv=16, upscale=4),
            "RRDBNet (23 blocks 64f)": ESRGAN(num_filters=64, num_blocks=23, scale=4)}
    paths = {}
    for i, (name, net) in enumerate(nets.items()):
        paths[name] = folder / f"net{i}.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(paths[name]))
    return paths


def time_view(up: Upscaler, image: np.ndarray, runs: int, warmup: int = 1) -> dict[str, Any]:
    t0 = time.perf_counter()
    features = up.encode(image)
    encode_ms = (time.perf_counter() - t0) * 1e3
    h, w = image.shape[:2]
    lattice = pane_lattice(w / 2, h / 2, ZOOM, *PANE)
    timing = time_runs(lambda: up.decode_lattice(features, lattice), up.device, warmup=warmup, runs=runs,
                       budget_s=120)
    return {"encode_ms": round(encode_ms, 1), "decode_ms": round(timing.median_ms, 1),
            "decode_min_ms": round(timing.min_ms, 1), "decode_cpu_ms": round(timing.cpu_ms, 1), "runs": timing.runs}


def seam(path: Path, size: int) -> dict[str, Any]:
    """Largest difference between a viewport decode (margin capped) and the network run once on the whole image."""
    up = load_external_model(path, device="cpu", precision="fp32")
    image = textured_image(size, seed=1)
    features = up.encode(image)
    with torch.inference_mode():
        whole = up.descriptor(features.tensor)[0].permute(1, 2, 0).numpy()
    # A 16x16-input block in the middle: its crop (block + margin) stays clear of the image's borders.
    lo = size // 2 - 8
    block = Lattice(4.0, 4.0, 4.0 * lo, 4.0 * lo, 64, 64)
    part = up.decode_lattice(features, block)
    o = 4 * lo
    error = float(np.abs(part - whole[o:o + 64, o:o + 64]).max())
    return {"image": size, "margin": up.margin, "receptive_radius": up.receptive_radius,
            "max_abs_error": error}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="results/NAME.json")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seam-size", type=int, default=100, help="image side for the heavy network's seam check")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = textured_image(512)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_networks(Path(tmp))
        methods: list[tuple[str, Any]] = [("LIIF (shipped)", lambda p: load_upscaler("liif", device="cpu",
                                                                                      precision=p))]
        methods += [(name, lambda p, path=path: load_external_model(path, device="cpu", precision=p))
                    for name, path in paths.items()]
        for name, build in methods:
            heavy = name.startswith("RRDBNet")
            # The heavy network once, at its default precision only (minutes per decode on a busy 2-core CPU).
            for precision in ("auto",) if heavy else ("auto", "fp32"):
                up = build(precision)
                if precision == "fp32" and rows and rows[-1]["method"] == name and rows[-1]["precision"] == "fp32":
                    continue  # auto already was fp32
                row = {"method": name, "precision": up.precision,
                       **time_view(up, image, 1 if heavy else args.runs, 0 if heavy else 1)}
                rows.append(row)
                print(f"{name:26} {row['precision']:5} encode {row['encode_ms']:9.1f} ms  "
                      f"decode {row['decode_ms']:9.1f} ms (cpu {row['decode_cpu_ms']:.0f} ms, {row['runs']} runs)",
                      flush=True)
        seam_row = seam(paths["RRDBNet (23 blocks 64f)"], args.seam_size)
        print(f"RRDBNet seam at margin {seam_row['margin']} (receptive radius {seam_row['receptive_radius']}): "
              f"{seam_row['max_abs_error']:.2e}")
    report = {"what": f"{PANE[0]}x{PANE[1]} pane at x{ZOOM:g} from a 512x512 image, median of runs after a warm-up",
              "cpu": cpu_info(), "threads": args.threads, "torch": torch.__version__, "rows": rows,
              "rrdb_seam": seam_row}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.name}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
