"""Interleaved before/after timing of `main.py bench` decodes on two checkouts.

On a shared machine the load changes from minute to minute, so two benchmark
runs made one after the other can differ by 20% with no code change. This runs
the same bench command on the `before` and `after` checkouts alternately,
`--rounds` times, and keeps the smallest CPU time of each case (the run least
disturbed by others).

    git worktree add /tmp/before <commit>
    python benchmarks/ab.py --before /tmp/before --after . --rounds 4 --name diif-mix -- \
        --methods diif --threads 1 --input-size 256 --sizes 480x270 --zooms 1.3,2,3,4 --runs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_once(tree: Path, bench_args: list[str], out: Path, stem: str) -> dict:
    cmd = [sys.executable, "main.py", "bench", "--parts", "decode", *bench_args, "--out", str(out), "--name", stem]
    subprocess.run(cmd, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / f"{stem}.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, type=Path)
    parser.add_argument("--after", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--name", required=True, help="results/ab-NAME.json and .md")
    parser.add_argument("--after-args", default="", help="extra bench arguments for the after checkout only, "
                        "e.g. '--precision bf16' (an option the before checkout lacks)")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="after --: arguments for main.py bench")
    args = parser.parse_args()
    bench_args = [a for a in args.bench_args if a != "--"]
    best: dict[tuple, dict[str, float]] = {}
    device = ""
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for label, tree in (("before", args.before), ("after", args.after)):
                extra = args.after_args.split() if label == "after" else []
                report = run_once(tree.resolve(), bench_args + extra, Path(tmp), f"{label}-{i}")
                device = report["device"]
                for d in report["decodes"]:
                    key = (d["method"], f'{d["width"]}x{d["height"]}', d["zoom"])
                    slot = best.setdefault(key, {})
                    slot[label] = min(slot.get(label, float("inf")), d["cpu_ms"])
                    # Wall time too, though on a shared machine it mostly measures the others' load.
                    slot[label + "_wall"] = min(slot.get(label + "_wall", float("inf")), d["median_ms"])
                print(f"round {i + 1}/{args.rounds} {label} done", flush=True)
    rows = [{"method": k[0], "size": k[1], "zoom": k[2], "before_cpu_ms": v.get("before"),
             "after_cpu_ms": v.get("after"), "before_wall_ms": v.get("before_wall"),
             "after_wall_ms": v.get("after_wall"), "speedup": round(v["before"] / v["after"], 3)
             if v.get("before") and v.get("after") else None} for k, v in best.items()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"device": device, "before": str(args.before), "after": str(args.after), "rounds": args.rounds,
            "bench_args": bench_args, "after_args": args.after_args,
            "statistic": "min over rounds of the per-run median CPU ms (and, apart, of the median wall ms)"}
    (RESULTS / f"ab-{args.name}.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    lines = [f"A/B `{args.name}` on {device}: min over {args.rounds} interleaved rounds of the median CPU ms "
             "per decode",
             f"(bench args: `{' '.join(bench_args)}`"
             + (f"; after only: `{args.after_args}`" if args.after_args else "") + ")", "",
             "| method | size | zoom | before CPU ms | after CPU ms | speed-up | before wall ms | after wall ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['size']} | {r['zoom']:g} | {r['before_cpu_ms']} | {r['after_cpu_ms']} | "
                     f"{r['speedup']}× | {r['before_wall_ms']} | {r['after_wall_ms']} |")
    (RESULTS / f"ab-{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
