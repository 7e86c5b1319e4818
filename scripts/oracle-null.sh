#!/usr/bin/env bash
# Checks a track's scoring end to end with two stand-in agents whose FSR is known in advance: the oracle (task N's
# workspace with record N+1's program copied in, FSR 1) and the null (the workspace left as it is, record N's
# program, FSR 0). Per seed and task, one session times record N, the oracle, the null and record N+1 (the reverse on
# odd seeds), so both agents share the two reference runs; seeds go round the tasks, so a check cut short still covers
# every task. Then `speedrun score` prints the cells.
#
#   scripts/oracle-null.sh TRACK SEEDS TASK [TASK ...]        e.g. scripts/oracle-null.sh tiny 3 1 2 4
#
# Environment: SPEEDRUN (how to call speedrun; default the Release build of this checkout), STORE (default
# results/oracle-null.db, kept apart from real agents' runs), WORK (the workspaces; default .cache/oracle-null),
# SPEEDRUN_HOME (another catalog, as speedrun itself reads it).
# On a shared CPU, DOTNET_PROCESSOR_COUNT=1 and `taskset -c K` make the timed runs steadier; keep other work off the
# machine meanwhile, since one reference timed under load moves every FSR of its task.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: $0 TRACK SEEDS TASK [TASK ...]   (e.g. $0 tiny 3 1 2 4)" >&2
  exit 2
fi
track=$1 seeds=$2; shift 2
case $seeds in ''|*[!0-9]*|0) echo "error: SEEDS must be a whole number of at least 1, not '$seeds'" >&2; exit 2;; esac
speedrun=${SPEEDRUN:-"dotnet src/Speedrun.Cli/bin/Release/net10.0/speedrun.dll"}
store=${STORE:-results/oracle-null.db}
work=${WORK:-.cache/oracle-null}
if [ -z "${SPEEDRUN:-}" ] && [ ! -f src/Speedrun.Cli/bin/Release/net10.0/speedrun.dll ]; then
  echo "error: no Release build here; run 'dotnet build -c Release' first, or set SPEEDRUN" >&2
  exit 2
fi
# The catalog speedrun reads: $SPEEDRUN_HOME where set (another repository, such as the fixture ladder), else this one.
catalog=${SPEEDRUN_HOME:-$PWD}
mkdir -p "$work" "$(dirname "$store")"

for task in "$@"; do
  case $task in ''|*[!0-9]*) echo "error: a task is a number, not '$task'" >&2; exit 2;; esac
  next=$(ls -d "$catalog"/records/"$(printf %02d $((task + 1)))"-* 2>/dev/null | head -1 || true)
  if [ -z "$next" ] || [ ! -f "$next/Train.cs" ]; then
    echo "error: task $task needs record $((task + 1))'s Train.cs under $catalog/records/, and there is none" >&2
    exit 2
  fi
  for agent in oracle null; do
    dir="$work/$track-t$task-$agent"
    if [ ! -f "$dir/task.json" ]; then
      rm -rf "$dir"
      $speedrun task "$task" --out "$dir" --store "$store" >/dev/null
      if [ "$agent" = oracle ]; then cp "$next/Train.cs" "$dir/Train.cs"; fi
    fi
  done
done

status=0
for ((seed = 0; seed < seeds; seed++)); do
  for task in "$@"; do
    echo "== oracle-null: track $track, task $task, seed $seed ($(date +%T))" >&2
    $speedrun run "$work/$track-t$task-oracle" "$work/$track-t$task-null" --agent oracle --agent null \
      --with-references --first-seed "$seed" --seeds 1 --track "$track" --store "$store" || status=$?
    [ "$status" -eq 130 ] && exit 130
  done
done
$speedrun score --track "$track" --store "$store"
exit "$status"
