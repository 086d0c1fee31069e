#!/usr/bin/env bash
# Ship what the background training has improved, with the figures measured on
# exactly the files that ship:
#   1. copy every run's weights to runs/candidates/runs/<method>/ with the
#      background job paused (kill -STOP) for that moment only;
#   2. export the copies to runs/candidates/<method>.safetensors (fp16, beside a
#      copy of the shared encoder they reference);
#   3. evaluate the candidates (default Set5 x2,x3,x4: Set5 x4 decides) while
#      the job trains on (the copies cannot change);
#   4. re-export them with those metrics stored in the files;
#   5. copy into resources/weights/ each candidate whose Set5 x4 beats the
#      shipped file's own figure (or that has none).
# METHODS, SETS and SCALES override the defaults; evaluation must include Set5 x4.
set -euo pipefail
cd "$(dirname "$0")/.."
METHODS=${METHODS:-ipe-liif,diinn,diif,a-liif,liif-siren}
SETS=${SETS:-Set5}
SCALES=${SCALES:-2,3,4}
cand=runs/candidates
pids=$(cat runs/train-*.pid 2>/dev/null || true)
resume() { [ -z "$pids" ] || kill -CONT $pids 2>/dev/null || true; }
trap resume EXIT
rm -rf "$cand"
mkdir -p "$cand"
cp resources/weights/edsr-baseline.safetensors "$cand/"
# Paused while copying, so that no copy is taken halfway through a save.
[ -z "$pids" ] || kill -STOP $pids 2>/dev/null || true
for m in ${METHODS//,/ }; do mkdir -p "$cand/runs/$m" && cp "runs/$m/last.safetensors" "$cand/runs/$m/"; done
resume
python3 main.py train --method "$METHODS" --out "$cand/runs/{method}" --export-only --export "$cand"
weights=()
for m in ${METHODS//,/ }; do weights+=(--weights "$m=$cand/$m.safetensors"); done
python3 main.py evaluate --methods "$METHODS" --sets "$SETS" --scales "$SCALES" "${weights[@]}" --out "$cand/eval"
python3 main.py train --method "$METHODS" --out "$cand/runs/{method}" --export-only --export "$cand" \
  --metrics-from "$cand/eval.json"
python3 - "$cand" "$METHODS" <<'EOF'
import shutil, sys
from pathlib import Path
from inference import checkpoint

cand, methods = Path(sys.argv[1]), sys.argv[2].split(",")
key = "psnr_y/Set5/x4"
for m in methods:
    new = checkpoint.load(cand / f"{m}.safetensors")
    shipped_path = Path("resources/weights") / f"{m}.safetensors"
    old = checkpoint.load(shipped_path).metrics.get(key) if shipped_path.is_file() else None
    got = new.metrics.get(key)
    steps = new.provenance.get("steps")
    if got is None:
        print(f"{m}: no {key} measured, not shipped")
    elif old is None or got > old:
        shutil.copyfile(cand / f"{m}.safetensors", shipped_path)
        print(f"{m}: shipped, {steps} steps, {key} {old} -> {got:.2f}")
    else:
        print(f"{m}: kept the shipped file ({key} {old:.2f} >= {got:.2f} at {steps} steps)")
EOF
