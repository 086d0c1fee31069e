#!/bin/bash
# Interleaved before/after, fp32 with the math libraries capped to AVX2 (no native bf16 path).
export ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2
for r in 1 2; do
  for side in before after; do
    tree=/tmp/before; [ $side = after ] && tree=/work/main
    echo "$side r$r $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    (cd $tree && nice python3 main.py bench --parts decode,latency --methods liif,diif --precision fp32 --threads 2 \
      --input-size 512 --sizes 960x540 --zooms 4 --runs 2 --latency-runs 2 --out /tmp/abfp32 --name $side-r$r > /dev/null)
  done
done
echo done
