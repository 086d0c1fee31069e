"""Padded against unpadded bf16 decodes, interleaved in one process.

Toggles `inference.methods.base.pads_gemm_rows` (which also switches wide
lattices to 128-column blocks) and times `decode_lattice` of the bench's
textured 512² image, alternating the two, `--reps` times each; prints and
writes the min and median CPU seconds per case.

    python3 benchmarks/gemm_padding_ab.py --methods liif,diinn --reps 6
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cli.bench_harness import textured_image  # noqa: E402
from inference.catalog import load_upscaler  # noqa: E402
from inference.geometry import pane_lattice  # noqa: E402
from inference.methods import base  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="liif,diinn,a-liif,ipe-liif,liif-siren")
    parser.add_argument("--cases", default="960x540@4,333x211@3.7,960x540@16")
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="cpu-gemm-padding-ab")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    padded_rule = base.pads_gemm_rows
    image = textured_image(512)
    rows = []
    for method in args.methods.split(","):
        up = load_upscaler(method, "cpu")
        features = up.encode(image)
        for case in args.cases.split(","):
            size, zoom = case.split("@")
            w, h = (int(v) for v in size.split("x"))
            lattice = pane_lattice(256, 256, float(zoom), w, h)
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.reps):
                for padded in (True, False):
                    base.pads_gemm_rows = padded_rule if padded else (lambda device, dtype: False)
                    t = time.process_time()
                    up.decode_lattice(features, lattice)
                    times[padded].append(time.process_time() - t)
            base.pads_gemm_rows = padded_rule
            row = {"method": method, "precision": up.precision, "size": size, "zoom": float(zoom),
                   **{f"{k}_{s}": round(float(f(times[p])), 3) for p, k in ((True, "padded"), (False, "unpadded"))
                      for s, f in (("min", np.min), ("median", np.median))}}
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    out = ROOT / "benchmarks" / "results"
    (out / f"{args.name}.json").write_text(json.dumps({"threads": args.threads, "reps": args.reps, "rows": rows},
                                                      indent=1))
    lines = [f"Padded vs unpadded bf16 decodes, CPU seconds, {args.threads} threads, {args.reps} interleaved reps",
             "", "| method | precision | size | zoom | padded min | padded median | unpadded min | unpadded median |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['method']} | {r['precision']} | {r['size']} | {r['zoom']:g} | {r['padded_min']} | "
              f"{r['padded_median']} | {r['unpadded_min']} | {r['unpadded_median']} |" for r in rows]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
