#!/usr/bin/env bash
# Start (or resume) the long background training of the five decoders on the
# frozen LIIF-release encoder: two niced processes with one torch thread each
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
  nohup nice -n "$NICE" python3 main.py train --method "$2" --data ../shared/data/train --out 'runs/{method}' \
    --encoder-from resources/weights/edsr-baseline.safetensors --warm-start resources/weights/liif.safetensors \
    --continue-from 'resources/weights/{method}.safetensors' \
    --threads 1 --log-every 20 >> "runs/train-$1.log" 2>&1 &
  echo $! > "$pidfile"
  echo "train-$1 started (pid $!): $2"
}
# Balanced by step cost (CPU-s per step, 1 thread: LIIF-SIREN 2.7, A-LIIF 0.8 |
# IPE-LIIF 1.3, DIIF 1.0, DIINN 0.6), so the slowest learner gets its share.
start a liif-siren,a-liif
start b diif,ipe-liif,diinn
