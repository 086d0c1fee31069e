#!/usr/bin/env bash
# Start (or resume) the long background training of the five decoders on the
# LIIF-release encoder (frozen; DIIF and LIIF-SIREN fine-tune it with them at a
# low rate, below): two niced processes with one torch thread each
# (one per core; on a shared CPU that trains more steps per hour than one
# process with two threads), state in runs/<method>, logs in runs/train-*.log.
# Stop with: kill $(cat runs/train-*.pid)   (each saves its runs first).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
NICE=${NICE:-10}
start() {  # start NAME METHODS
  local pidfile="runs/train-$1.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "train-$1 already running (pid $(cat "$pidfile"))"; return
  fi
  # Methods whose encoder is fine-tuned with them (rate each), and a tuned run
  # resumes only with that option. DIIF plateaued on the frozen encoder (~31.80
  # dB Set5 x4 from step ~4,700); tuned from step 5,232 at 1e-5 (300-step A/B:
  # +0.09 dB Set5 x2, +0.01 x4; 5e-5 lost 0.03). LIIF-SIREN tuned from step
  # 4,404 (A/Bs: 1e-5 beat frozen by 0.04 dB Set5 x4, 3e-5 beat 1e-5 by 0.02,
  # 1e-4 lost 0.04 to 3e-5); see benchmarks/results/lr-ab-2026-12-01.md.
  local tuned=() rate
  for rate in diif=1e-5 liif-siren=3e-5; do
    if [[ ",$2," == *",${rate%%=*},"* ]]; then tuned+=("$rate"); fi
  done
  local extra=()
  if [ ${#tuned[@]} -gt 0 ]; then extra=(--encoder-lr "$(IFS=,; echo "${tuned[*]}")"); fi
  nohup nice -n "$NICE" python3 main.py train --method "$2" --data ../shared/data/train --out 'runs/{method}' \
    --encoder-from resources/weights/edsr-baseline.safetensors --warm-start resources/weights/liif.safetensors \
    --continue-from 'resources/weights/{method}.safetensors' "${extra[@]}" \
    --threads 1 --log-every 20 >> "runs/train-$1.log" 2>&1 &
  echo $! > "$pidfile"
  echo "train-$1 started (pid $!): $2"
}
# IPE-LIIF, A-LIIF and DIINN met the goal (within 0.3 dB of LIIF at x4, 0.5 dB
# at x2-x12, on Set5, Set14 and B100) and gained <= 0.03 dB in their last
# ~500 steps, so by default the two cores go to the two methods still short of
# it: LIIF-SIREN (2.7 CPU-s a step, the slowest learner) and DIIF.
# TRAIN_A / TRAIN_B override the groups (comma-separated methods; empty skips one),
# e.g. TRAIN_B=diif,ipe-liif,diinn,a-liif.
start_group() {  # start_group NAME METHODS (skipped when METHODS is empty)
  if [ -n "$2" ]; then start "$1" "$2"; fi
}
start_group a "${TRAIN_A-liif-siren}"
start_group b "${TRAIN_B-diif}"
