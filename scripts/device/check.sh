#!/usr/bin/env bash
# Every GPU check in one go, on the GPU machine (no .NET there: run publish.sh here first and carry
# .device/). Usage: scripts/device/check.sh OUT_DIR [--quick] (the default mode), or
# scripts/device/check.sh OUT_DIR records (one full-size training step of records 12, 19 and 21, ours and PyTorch's:
# a separate mode, since it needs a whole device command of its own), or scripts/device/check.sh OUT_DIR calibrate
# (a track's calibration, as much of it as fits in one command; writes env.txt, store.db and calibrate.log). Writes env.txt, doctor.log, report.md,
# report.json, torch.log, torch.json, torch_train.json and summary.md into OUT_DIR (at most 8 files, flat:
# new results fold into these, e.g. the attention reference is the key "attention" of torch.json and the records'
# PyTorch steps the key "record_steps").
set -uo pipefail
cd "$(dirname "$0")/../.."
# One device command may run 600 s: every step gets at most its own limit and what is left of
# CHECK_DEADLINE seconds (default 560, so summary.md is always written); a step with under 20 s left is
# skipped with a line saying so, and the summary reports what is missing.
deadline=${CHECK_DEADLINE:-560}
limit() { local left=$((deadline - SECONDS)); (( left < $1 )) && echo $left || echo "$1"; }
step() { # step SECONDS COMMAND...: runs the command under the smaller of the two limits, or skips it
  local want=$1; shift
  local left=$((deadline - SECONDS)) t; t=$(limit "$want")
  if (( left < 20 )); then echo "== skipped (${left}s left of the ${deadline}s deadline): $*"; return 0; fi
  timeout "$t" "$@"
}
out=${1:?usage: check.sh OUT_DIR [--quick] | check.sh OUT_DIR records | check.sh OUT_DIR calibrate}
shift
mode=default
if [ "${1:-}" = records ] || [ "${1:-}" = calibrate ]; then mode=$1; shift; fi
mkdir -p "$out"
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=${TMPDIR:-/tmp}/speedrun-bundle
export PYTHONUNBUFFERED=1

{
  date -u
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
  echo "--- libraries"
  ldconfig -p | grep -E 'libcuda\.so|libcublas' || true
  ls /usr/local/cuda*/lib64/libcublas.so* 2>/dev/null || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
} > "$out/env.txt" 2>&1
echo "== env"; grep -E 'Driver Version|NVIDIA H|torch' "$out/env.txt"

shard=.device/data/train_000000.bin
if [ "$mode" = calibrate ]; then
  # A track's calibration across short device windows: each call times the (record, seed) runs that fit in what
  # is left of the deadline (speedrun calibrate --resume --budget), into OUT/store.db, which starts as a copy of
  # .device/calibration.db when that exists (the merged store of the earlier calls; see docs/device-kit.md).
  # TRACK (default mini), RECORDS (default 1..21) and SEEDS (default 3) choose the work; the FineWeb tracks need
  # shards on the machine (SPEEDRUN_FINEWEB_DIR). The runs' folders stay in TMPDIR; their rows, logs included, are
  # in store.db. A run whose typical time no longer fits is left for the next call.
  store="$out/store.db"
  if [ -f .device/calibration.db ]; then cp .device/calibration.db "$store"; echo "== continuing from .device/calibration.db"; fi
  budget=$(( (deadline - SECONDS - 40) / 60 ))
  echo "== speedrun calibrate --track ${TRACK:-mini} --records ${RECORDS:-1..21} --seeds ${SEEDS:-3}, budget ${budget} min"
  .device/bin/speedrun calibrate --track "${TRACK:-mini}" --records "${RECORDS:-1..21}" --seeds "${SEEDS:-3}" --resume \
    --budget "$budget" --store "$store" --runs "${TMPDIR:-/tmp}/speedrun-calibration-runs" "$@" 2>&1 | tee "$out/calibrate.log"
  echo "== the target these calibrations give (not written: speedrun target --write runs where the repository is)"
  .device/bin/speedrun target --track "${TRACK:-mini}" --store "$store" 2>&1 | tee -a "$out/calibrate.log"
  exit 0
fi
if [ "$mode" = records ]; then
  # Ours, then PyTorch's, one full-size step each (64K, 64K, 48K-token streams, width 768, 12 layers; B = 1 plus every
  # optimizer, as one of the original's 8 GPUs steps). Expected on an H100/H200: ours ~20-40 s a record (Roslyn, model
  # build, kernel JIT, 5 steps); PyTorch eager ~30-60 s a record (FlexAttention's compile), compiled ~60-150 s a
  # record (the whole model; no coordinate-descent tuning). record_steps.py runs eager for all, then compiled for
  # all, each case in its own process, and stops starting cases before the deadline; a rerun on the same machine
  # reuses inductor's caches. RECORDS and TORCH_MODES narrow it (e.g. RECORDS=records/21-batch-size TORCH_MODES=compiled).
  records=${RECORDS:-records/12-flex-attention records/19-fp8-lm-head records/21-batch-size}
  names=$(for r in $records; do basename "$r"; done | paste -sd, -)
  echo "== speedrun doctor --records-only: ours, one step of $names"
  # shellcheck disable=SC2086 # $records is a list of folders
  step 240 .device/bin/speedrun doctor --records-only --out "$out" --shard "$shard" --record $records \
    --warmup 2 --steps 3 "$@" 2>&1 | tee "$out/doctor.log"
  left=$((deadline - SECONDS - 15))
  echo "== pytorch reference: the same steps as the originals compute them (${TORCH_MODES:-eager,compiled}), ${left}s left"
  step "$left" python3 bench/pytorch/record_steps.py --shard "$shard" --json "$out/torch.json" --records "$names" \
    --modes "${TORCH_MODES:-eager,compiled}" --warmup 2 --steps 3 --case-budget 200 --deadline $((left - 10)) \
    2>&1 | tee "$out/torch.log"
  python3 scripts/device/summarize.py "$out" | tee "$out/summary.md"
  exit 0
fi

echo "== speedrun doctor"
step 210 .device/bin/speedrun doctor --out "$out" --record records/01-llmc-baseline --shard "$shard" \
  --micro-batch 32 16 8 --steps 5 "$@" 2>&1 | tee "$out/doctor.log"

echo "== pytorch reference: matmul, then record 1's model (eager, compiled) at our micro-batch"
step 90 python3 bench/pytorch/matmul_bench.py --json "$out/torch.json" 2>&1 | tee "$out/torch.log"
echo "== pytorch reference: attention fwd+bwd (flash SDPA, FlexAttention), under the key \"attention\" of torch.json"
# After matmul_bench.py, which rewrites torch.json whole; each FlexAttention case (compile included) gets 75 s.
step 180 python3 bench/pytorch/attention_bench.py --shard "$shard" --json "$out/torch.json" --flex-budget 75 \
  2>&1 | tee -a "$out/torch.log"
batch=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['records'][0]['micro_batch'])" "$out/report.json" 2>/dev/null || echo 16)
step 180 python3 bench/pytorch/train_gpt2.py --shard "$shard" --batch "$batch" --steps 10 \
  --json "$out/torch_train.json" 2>&1 | tee -a "$out/torch.log"

echo "== speedrun train: record 1 on the tiny track, on CUDA (compile, child process, results.json)"
step 90 .device/bin/speedrun train records/01-llmc-baseline --track tiny --device cuda --data .device/data \
  --out "${TMPDIR:-/tmp}/speedrun-tiny-cuda" 2>&1 | grep -E "val_loss|verdict|error|rror" | tee -a "$out/doctor.log"

python3 scripts/device/summarize.py "$out" | tee "$out/summary.md"
