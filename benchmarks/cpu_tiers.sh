#!/usr/bin/env bash
# What a user should expect per kind of CPU: the default path (bf16 where this CPU has
# AVX512-BF16) beside fp32 with the math libraries capped to AVX-512 without bf16 (server CPUs
# before Cooper Lake / Zen 4) and to AVX2 (most laptops; ATen's own vector kernels capped too, or
# only the encoder's oneDNN convolutions would change). Interleaved method by method, the three
# tiers back to back, so the shared machine's load falls on each tier alike. Each bench run
# writes its JSON/Markdown into results/cpu-tiers-NAME/; the summary, with the minimum over
# rounds of each case's median wall ms and CPU ms, goes to results/cpu-tiers-NAME.json/.md.
#
#   benchmarks/cpu_tiers.sh NAME [ROUNDS]
#   # IZ_TIER_METHODS, IZ_TIER_ZOOMS (4), IZ_TIER_RUNS (1), IZ_TIER_THREADS (1), IZ_TIER_INPUT (256)
#
# One torch thread by default: on a machine shared by many processes a second thread's OpenMP
# barriers burn CPU time waiting for a descheduled partner, and CPU time is the figure that
# survives others' load. A 256² input covers a 960x540 pane's window at x4 (240x135 LR pixels)
# and keeps the encoder, which the decode figure does not include, cheap.
# Check the cap took: ONEDNN_VERBOSE=1 prints oneDNN's ISA and each primitive's jit:avx2 etc.;
# torch.backends.cpu.get_cpu_capability() prints ATen's.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: benchmarks/cpu_tiers.sh NAME [ROUNDS]}
rounds=${2:-1}
methods=${IZ_TIER_METHODS:-liif,ipe-liif,diinn,diif,a-liif,liif-siren}
zooms=${IZ_TIER_ZOOMS:-4}
runs=${IZ_TIER_RUNS:-1}
threads=${IZ_TIER_THREADS:-1}
input=${IZ_TIER_INPUT:-256}
out=benchmarks/results/cpu-tiers-$name
mkdir -p "$out"
tiers=(native-bf16 avx512-fp32 avx2-fp32)
declare -A envs=(
  [native-bf16]=""
  [avx512-fp32]="ONEDNN_MAX_CPU_ISA=AVX512_CORE MKL_ENABLE_INSTRUCTIONS=AVX512"
  [avx2-fp32]="ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2"
)
declare -A precision=([native-bf16]=auto [avx512-fp32]=fp32 [avx2-fp32]=fp32)
for r in $(seq 1 "$rounds"); do
  for m in ${methods//,/ }; do
    for t in "${tiers[@]}"; do
      echo "round $r/$rounds $m $t $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
      # shellcheck disable=SC2086
      env ${envs[$t]} nice python3 main.py bench --parts decode --methods "$m" --threads "$threads" --input-size "$input" \
        --sizes 960x540 --zooms "$zooms" --runs "$runs" --precision "${precision[$t]}" \
        --out "$out" --name "$m-$t-r$r" > /dev/null
    done
  done
done
python3 - "$name" "$rounds" "$methods" "$zooms" "$runs" "$threads" "$input" <<'PY'
import json, sys
from pathlib import Path
name, rounds, methods, zooms, runs, threads, size = sys.argv[1:8]
rounds, methods = int(rounds), methods.split(",")
res = Path("benchmarks/results")
tiers = {"native-bf16": "", "avx512-fp32": "ONEDNN_MAX_CPU_ISA=AVX512_CORE MKL_ENABLE_INSTRUCTIONS=AVX512",
         "avx2-fp32": "ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2"}
cpuinfo = Path("/proc/cpuinfo").read_text().split("\n")
cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
flags = next(line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags"))
best: dict = {}
for m in methods:
    for t in tiers:
        for r in range(1, rounds + 1):
            rep = json.loads((res / f"cpu-tiers-{name}" / f"{m}-{t}-r{r}.json").read_text())
            for d in rep["decodes"]:
                slot = best.setdefault((m, d["zoom"], t), {"wall_ms": [], "cpu_ms": [], "precision": d.get("precision")})
                slot["wall_ms"].append(d["median_ms"])
                slot["cpu_ms"].append(d["cpu_ms"])
rows = [{"method": m, "zoom": z, "tier": t, "precision": v["precision"], "wall_ms_per_round": v["wall_ms"],
         "cpu_ms_per_round": v["cpu_ms"], "min_wall_ms": min(v["wall_ms"]), "min_cpu_ms": min(v["cpu_ms"])}
        for (m, z, t), v in best.items()]
summary = {"cpu": cpu, "flags": sorted(f for f in flags if f.startswith(("avx", "amx"))), "tiers": tiers,
           "rounds": rounds, "statistic": "min over rounds of the per-run median wall ms (and CPU ms)",
           "bench_args": f"--parts decode --methods METHOD --threads {threads} --input-size {size} --sizes 960x540 "
                         f"--zooms {zooms} --runs {runs} --precision auto|fp32 (nice)",
           "rows": rows}
(res / f"cpu-tiers-{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
lines = [f"# CPU tiers ({cpu}; {rounds} round(s); wall s / CPU s of one 960x540 decode)", "",
         "| method | zoom | " + " | ".join(tiers) + " |", "| --- | --- |" + " --- |" * len(tiers)]
for m in methods:
    for z in sorted({r["zoom"] for r in rows if r["method"] == m}):
        cells = [next((f'{r["min_wall_ms"] / 1000:.2f} / {r["min_cpu_ms"] / 1000:.2f} ({r["precision"]})'
                       for r in rows if r["method"] == m and r["zoom"] == z and r["tier"] == t), "-") for t in tiers]
        lines.append(f"| {m} | ×{z:g} | " + " | ".join(cells) + " |")
(res / f"cpu-tiers-{name}.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
