#!/usr/bin/env bash
# Record 1 on the tiny track, ours against a tuned PyTorch CPU reference (bench/pytorch/cpu_record1_tiny.py), side by
# side in one session (issue 13): RUNS alternated runs each (default 3), the same steps, the same data, the same seed,
# the same thread count, the same timing rule (train_time: steps 10.. only, validation excluded).
#
#   bench/cpu-vs-pytorch.sh [RUNS]
#   THREADS=2 SEED=0 PYTHON=/usr/bin/python3 OUT=/tmp/x bench/cpu-vs-pytorch.sh 3
#
# Ours:    speedrun train records/01-llmc-baseline --track tiny, DOTNET_PROCESSOR_COUNT=$THREADS; train_time is the
#          program's own (results.json), val_loss the harness's verdict (the saved model on the scored val tokens).
# PyTorch: Debian's python3-torch (1.13) fp32 with OpenBLAS (libopenblas0-pthread; without it Debian links the
#          reference BLAS, ~10x slower), jemalloc preloaded (LD_PRELOAD=libjemalloc.so.2), OMP_WAIT_POLICY=PASSIVE,
#          OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=$THREADS and torch.set_num_threads($THREADS): without the allocator and
#          the passive wait PyTorch is about 4x slower on this 2-core VM. jemalloc keeps freed pages
#          (MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1, unless MALLOC_CONF is set): with its default decay it hands
#          the 200 MB logits back to the kernel every step and faults them in again (1 thread, 2026-11-30: 1.99 s a
#          step; glibc 1.51 s; jemalloc without decay 1.12 s, no system time). Same initial weights as ours (--init dotnet).
# Each run's 1-minute load average is recorded before and after: a run next to other work is slow, not wrong.
# `speedrun train` waits for the machine's CPU device lock (another timed run); the PyTorch runs do not take it.
# Installs (apt-get, as root) only what is missing. Needs a Release build: dotnet build -c Release src/Speedrun.Cli
set -euo pipefail

RUNS=${1:-3}
THREADS=${THREADS:-2}
SEED=${SEED:-0}
PYTHON=${PYTHON:-/usr/bin/python3}   # Debian's python, where apt's python3-torch lives
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/cpu-vs-pytorch.XXXXXX)}
SPEEDRUN=${SPEEDRUN:-"dotnet $ROOT/src/Speedrun.Cli/bin/Release/net10.0/speedrun.dll"}
MALLOC_CONF=${MALLOC_CONF:-dirty_decay_ms:-1,muzzy_decay_ms:-1}
PYTORCH_ARGS=${PYTORCH_ARGS:-}     # extra arguments for the reference (e.g. --max-steps 12 for a smoke test)
cd "$ROOT"
mkdir -p "$OUT"

[[ -f src/Speedrun.Cli/bin/Release/net10.0/speedrun.dll ]] || { echo "no Release build: dotnet build -c Release src/Speedrun.Cli" >&2; exit 2; }

jemalloc() { for f in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/*/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do [[ -f $f ]] && { echo "$f"; return; }; done; }
openblas() { readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null | grep -q openblas; }
missing=()
"$PYTHON" -c "import torch" 2>/dev/null || missing+=(python3-torch)
[[ -n $(jemalloc) ]] || missing+=(libjemalloc2)
openblas || missing+=(libopenblas0-pthread)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt-get install -y "${missing[@]}" >"$OUT/apt.log" 2>&1 || { apt-get update >>"$OUT/apt.log" 2>&1 && apt-get install -y "${missing[@]}" >>"$OUT/apt.log" 2>&1; } \
        || { echo "apt-get install ${missing[*]} failed; see $OUT/apt.log" >&2; exit 2; }
fi
JEMALLOC=$(jemalloc)
BLAS=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)

read -r TRAIN VAL < <($SPEEDRUN data corpus | awk '$1=="train"{t=$NF} $1=="val"{v=$NF} END{print t, v}')
[[ -n $TRAIN && -n $VAL ]] || { echo "could not read the default corpus's shards from 'speedrun data corpus'" >&2; exit 2; }
TORCH=$("$PYTHON" -c "import torch; print(torch.__version__)")

load1() { cut -d' ' -f1 /proc/loadavg; }
json() { "$PYTHON" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "# record 1, tiny track: ours vs PyTorch ($RUNS alternated runs each, seed $SEED)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') x$(nproc) | $(date -u +%FT%TZ) | out $OUT"
echo "ours:    .NET, DOTNET_PROCESSOR_COUNT=$THREADS | engine $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "pytorch: torch $TORCH fp32, $THREADS threads (torch.set_num_threads, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS), OMP_WAIT_POLICY=PASSIVE, allocator jemalloc (LD_PRELOAD=$JEMALLOC, MALLOC_CONF=$MALLOC_CONF), BLAS $BLAS"
echo "data:    train $TRAIN | val $VAL"
echo

rows=()
ours_t=(); ours_v=(); py_t=(); py_v=(); steps_all=()
for ((i = 1; i <= RUNS; i++)); do
    before=$(load1)
    dir="$OUT/ours-$i"
    DOTNET_PROCESSOR_COUNT=$THREADS $SPEEDRUN train records/01-llmc-baseline --track tiny --seed "$SEED" --out "$dir" \
        >"$OUT/ours-$i.log" 2>&1 || true
    after=$(load1)
    verdict=$(grep '^verdict:' "$OUT/ours-$i.log" || true)
    [[ -f $dir/results.json ]] || { echo "ours run $i failed; see $OUT/ours-$i.log" >&2; tail -5 "$OUT/ours-$i.log" >&2; exit 1; }
    t=$("$PYTHON" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['train_time_ms']/1000, 1))" "$dir/results.json")
    v=$(sed -n 's/.*| val_loss \([0-9.]*\) (target.*/\1/p' <<<"$verdict")
    steps=$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['n_steps'])" "$dir/results.json")
    echo "ours    run $i: train_time $t s, val_loss ${v:-?}, $steps steps, load $before -> $after"
    rows+=("| $i | ours | $t | ${v:-?} | $steps | $before | $after |"); ours_t+=("$t"); ours_v+=("${v:-nan}"); steps_all+=("$steps")

    before=$(load1)
    LD_PRELOAD=$JEMALLOC MALLOC_CONF=$MALLOC_CONF OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS \
        "$PYTHON" bench/pytorch/cpu_record1_tiny.py --threads "$THREADS" --seed "$SEED" --train "$TRAIN" --val "$VAL" $PYTORCH_ARGS \
        >"$OUT/pytorch-$i.log" 2>&1 || { echo "pytorch run $i failed; see $OUT/pytorch-$i.log" >&2; tail -5 "$OUT/pytorch-$i.log" >&2; exit 1; }
    after=$(load1)
    line=$(tail -1 "$OUT/pytorch-$i.log")
    t=$("$PYTHON" -c "import json,sys; print(round(json.loads(sys.argv[1])['train_time_ms']/1000, 1))" "$line")
    v=$(json "$line" val_loss); steps=$(json "$line" steps); alloc=$(json "$line" allocator)
    echo "pytorch run $i: train_time $t s, val_loss $v, $steps steps, allocator $alloc, load $before -> $after"
    rows+=("| $i | pytorch | $t | $v | $steps | $before | $after |"); py_t+=("$t"); py_v+=("$v"); steps_all+=("$steps")
done

[[ $(printf '%s\n' "${steps_all[@]}" | sort -u | wc -l) == 1 ]] || echo "warning: the runs did not all take the same number of steps: ${steps_all[*]}" >&2
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mo=$(median "${ours_t[@]}"); mp=$(median "${py_t[@]}")
echo
echo "| run | side | train_time (s) | val_loss | steps | load before | load after |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "median train_time: ours $mo s, pytorch $mp s; ours/pytorch = $(awk -v a="$mo" -v b="$mp" 'BEGIN{printf "%.2f", a/b}')"
echo "median val_loss:   ours $(median "${ours_v[@]}"), pytorch $(median "${py_v[@]}")"
echo "(train_time: steps 10 on, validation excluded, both sides; val_loss: the ${SEED:+seed-$SEED }model on the track's scored val tokens)"
echo "logs: $OUT"
