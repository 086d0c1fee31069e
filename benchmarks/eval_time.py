"""Time to evaluate methods on benchmark sets at the default precision and in
fp32, method by method, the two runs interleaved (this machine is shared; the
load changes from minute to minute).

fp32 is what every method decoded in before bf16 became the default on CPUs
that have it, and what a CPU without native bf16 still runs; the other exact
speed-ups of the decode path apply to both columns, so the ratio understates
the whole gain over the original code.

    python benchmarks/eval_time.py --name eval-time-2026-12-01 \
        --methods bicubic,liif,ipe-liif,diinn,diif,a-liif,liif-siren --sets Set5,Set14,B100 --scales 2,3,4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PRECISIONS = ("auto", "fp32")


def evaluate(method: str, precision: str, args: argparse.Namespace, out: Path) -> tuple[dict, float]:
    """One `main.py evaluate` process; its report and its whole wall time (loading included)."""
    cmd = [sys.executable, "main.py", "evaluate", "--methods", method, "--sets", args.sets, "--scales",
           args.scales, "--data", args.data, "--precision", precision, "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.with_suffix(".json").read_text()), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="results/NAME.json and .md")
    parser.add_argument("--methods", default="bicubic,liif,ipe-liif,diinn,diif,a-liif,liif-siren")
    parser.add_argument("--sets", default="Set5,Set14,B100")
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--data", default="../shared/data/eval")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            for precision in PRECISIONS:
                report, wall = evaluate(method, precision, args, Path(tmp) / f"{method}-{precision}")
                per_set: dict[str, float] = {}
                for cell in report["results"]:
                    per_set[cell["set"]] = per_set.get(cell["set"], 0.0) + float(cell["seconds"])
                psnr = {f'{c["set"]} x{c["scale"]:g}': round(float(c["psnr"]), 3) for c in report["results"]}
                rows.append({"method": method, "precision": precision, "process_s": round(wall, 1),
                             "sets_s": {k: round(v, 1) for k, v in per_set.items()}, "psnr": psnr})
                print(f"{method} {precision}: {wall:.1f} s", flush=True)
    device = f"CPU ({os.cpu_count()} cores visible, torch {torch.__version__}, {torch.get_num_threads()} threads)"
    result = {"device": device, "sets": args.sets, "scales": args.scales, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1))
    sets = args.sets.split(",")
    lines = [f"Evaluation time on {device}: {args.sets} at x{args.scales.replace(',', ', x')}, one "
             f"`main.py evaluate` process per method and precision, interleaved (seconds; the sets' "
             f"columns are decode + measure, the process column includes loading)", "",
             "| method | " + " | ".join(f"{s} default | {s} fp32" for s in sets)
             + " | process default | process fp32 | speed-up |",
             "| --- | " + " | ".join("--- | ---" for _ in sets) + " | --- | --- | --- |"]
    by = {(r["method"], r["precision"]): r for r in rows}
    totals = dict.fromkeys(PRECISIONS, 0.0)
    for method in args.methods.split(","):
        auto, fp32 = by[(method, "auto")], by[(method, "fp32")]
        totals["auto"] += auto["process_s"]
        totals["fp32"] += fp32["process_s"]
        cells = " | ".join(f'{auto["sets_s"].get(s, 0):.1f} | {fp32["sets_s"].get(s, 0):.1f}' for s in sets)
        lines.append(f"| {method} | {cells} | {auto['process_s']:.1f} | {fp32['process_s']:.1f} | "
                     f"{fp32['process_s'] / auto['process_s']:.2f}× |")
    total_cells = ["**all**", *[""] * (2 * len(sets)), f"**{totals['auto']:.0f}**", f"**{totals['fp32']:.0f}**",
                   f"{totals['fp32'] / totals['auto']:.2f}×"]
    lines.append("| " + " | ".join(total_cells) + " |")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
