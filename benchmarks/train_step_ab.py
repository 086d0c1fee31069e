"""Training step time of two source trees, measured alternately on one machine.

The CPU is shared (a background training job and other work), so wall time
alone says little: each configuration reports the median wall seconds and the
median process CPU seconds per step, and the two trees take turns (before,
after, after, before, ...) so that load changes hit both alike. Each turn is a
fresh process in that tree running `training.train.time_steps` exactly as
`main.py bench --parts train` does for its "frozen encoder, auto precision" row.

    python3 benchmarks/train_step_ab.py --before /work/main --after . \\
        --methods liif,diif --threads 1,2 --steps 3 --rounds 2 --name cpu-train-speed
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ONE_TURN = r"""
import json, sys, time
from pathlib import Path
import torch
methods, threads, steps, warmup, images, encoder, data = sys.argv[1:8]
torch.set_num_threads(int(threads))
from training.data import select
from training.train import time_steps
selection = select(data)
selection.paths = selection.paths[: int(images)]
rows = []
for method in methods.split(","):
    t = time_steps(method, selection, frozen_encoder=Path(encoder), amp="auto", steps=int(steps), warmup=int(warmup))
    rows.append({"method": method, "batch": t.batch, "pixels_per_step": t.pixels_per_step,
                 "wall_s": t.wall_s, "cpu_s": t.cpu_s})
print("RESULT " + json.dumps(rows))
"""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_turn(tree: Path, args: argparse.Namespace, threads: int) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-c", ONE_TURN, args.methods, str(threads), str(args.steps), str(args.warmup),
           str(args.images), str(args.encoder), str(args.data)]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{tree}: no result\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="source tree of the old code")
    parser.add_argument("--after", type=Path, required=True, help="source tree of the new code")
    parser.add_argument("--methods", default="liif,diif,ipe-liif,diinn,a-liif,liif-siren")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per method and turn (median)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train").resolve())
    parser.add_argument("--encoder", type=Path, default=Path("resources/weights/edsr-baseline.safetensors").resolve())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="cpu-train-speed")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--from-log", type=Path, default=None,
                        help="write the tables from the printed lines of an interrupted run instead of measuring "
                             "(batch x pixels are then taken from the recipes)")
    parser.add_argument("--started", default="", help="with --from-log: when that run started")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    samples: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    batches: dict[str, tuple[int, int]] = {}
    loads = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.from_log is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from training.recipes import recipe_for

        started = args.started or started
        for line in args.from_log.read_text().splitlines():
            words = line.split()
            if len(words) == 12 and words[0] == "round":
                method, threads, label = words[5], int(words[3]), words[4]
                samples.setdefault((method, threads, label), []).append((float(words[7]), float(words[10])))
                r = recipe_for(method, frozen_encoder=True)
                pixels = r.samples if r.target == "points" else r.hr_crop * r.hr_crop
                batches[method] = (r.batch, r.batch * pixels)
        loads.append(os.getloadavg()[0])
        args.rounds = max(len(v) for v in samples.values())
    for round_index in range(0 if args.from_log is not None else args.rounds):
        for threads in (int(t) for t in args.threads.split(",")):
            order = ["before", "after"] if round_index % 2 == 0 else ["after", "before"]
            for label in order:
                for row in run_turn(trees[label], args, threads):
                    samples.setdefault((row["method"], threads, label), []).append((row["wall_s"], row["cpu_s"]))
                    batches[row["method"]] = (row["batch"], row["pixels_per_step"])
                    print(f"round {round_index + 1} threads {threads} {label:6s} {row['method']:10s} "
                          f"wall {row['wall_s']:6.2f} s  CPU {row['cpu_s']:6.2f} s", flush=True)
                loads.append(os.getloadavg()[0])
    rows = []
    for (method, threads, label), values in samples.items():
        rows.append({"method": method, "threads": threads, "code": label, "batch": batches[method][0],
                     "pixels_per_step": batches[method][1], "turns": len(values),
                     "wall_s_per_step": round(statistics.median(v[0] for v in values), 3),
                     "cpu_s_per_step": round(statistics.median(v[1] for v in values), 3)})
    rows.sort(key=lambda r: (r["threads"], args.methods.split(",").index(r["method"]), r["code"] != "before"))
    report = {"device": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)", "started": started,
              "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_average_1min": {"min": min(loads), "max": max(loads)}, "note": args.note,
              "before": str(trees["before"]), "after": str(trees["after"]), "steps": args.steps,
              "rounds": args.rounds, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"Training step, frozen encoder, auto precision (bf16), on {report['device']}; "
             f"{started} to {report['finished']}; 1-min load average {min(loads):.1f} to {max(loads):.1f}"
             + (f" ({args.note})" if args.note else "") + ".",
             f"Median over {args.rounds} alternating turns of the median of {args.steps} steps.", "",
             "| method | threads | batch x pixels | before s/step | after s/step | before CPU-s/step | "
             "after CPU-s/step | CPU change |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    by_key = {(r["method"], r["threads"], r["code"]): r for r in rows}
    for r in rows:
        if r["code"] != "before":
            continue
        a = by_key.get((r["method"], r["threads"], "after"))
        if a is None:
            continue
        change = (a["cpu_s_per_step"] / r["cpu_s_per_step"] - 1) * 100
        lines.append(f"| {r['method']} | {r['threads']} | {r['batch']} x {r['pixels_per_step'] // r['batch']} | "
                     f"{r['wall_s_per_step']} | {a['wall_s_per_step']} | {r['cpu_s_per_step']} | "
                     f"{a['cpu_s_per_step']} | {change:+.0f} % |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
