#!/usr/bin/env bash
# Before and after a change, in one run: the same benchmarks, alternately on two checkouts of this
# repository (the code before and the code after), on the same machine and services, so the two sets of
# figures share the hour and the load. Each benchmark prints one JSON object on one line; every line goes
# to stdout with the checkout's commit in front ("before <commit> {...}"), progress to stderr.
#
#   git worktree add --detach ../before <commit>; (cd ../before && npm ci)
#   bench/before-after.sh ../before . > .local/before-after.txt
#   bench/before-after.sh --quick ../before .      # tiny sizes: checks the script, figures mean nothing
#
# Order: each benchmark once per side, the sides alternating which goes first (throughput before then
# after, cycle after then before, payments before then after; ROUNDS=2 runs all of it twice, the second
# time with the sides swapped), so that neither side always runs on a warmer machine. Run it on a quiet
# machine (no tests, no other benchmark); the one-minute load at each start is printed beside it.
# Benchmarks never fail on a timing; a benchmark that fails is reported and the others still run.
set -uo pipefail

quick=false
if [[ ${1:-} == --quick ]]; then quick=true; shift; fi
if [[ $# -ne 2 ]]; then echo "usage: bench/before-after.sh [--quick] BEFORE_DIR AFTER_DIR" >&2; exit 2; fi
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)

if $quick; then
  throughput=(--pots 200 --commands 2000 --partitions 8 --paced-rate 200 --paced-seconds 2)
  cycle=(--pots 200 --orders 200 --partitions 8)
  payments=(--pots 100 --payments 200 --window 20 --partitions 8)
else
  throughput=(--commands 10000)
  cycle=(--pots 5000 --orders 5000)
  payments=(--payments 3000)
fi

failed=0
run() {
  local side=$1 dir=$2 name=$3
  shift 3
  local commit load output
  commit=$(git -C "$dir" rev-parse --short=12 HEAD)
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "== $side $commit $name $* ($(date -u +%H:%M:%S), load $load)" >&2
  output=$(mktemp)
  (cd "$dir" && ./dev bench "$name" --json "$@") | tee "$output" >&2
  if [[ ${PIPESTATUS[0]} -eq 0 ]]; then echo "$side $commit load=$load $(tail -n 1 "$output")"; else failed=1; fi
  rm -f "$output"
}

rounds=${ROUNDS:-1}
turn=0
for ((round = 1; round <= rounds; round++)); do
  for name in throughput cycle payments; do
    declare -n flags=$name
    turn=$((turn + 1))
    if (( turn % 2 == 1 )); then
      run before "$before" "$name" "${flags[@]}"; run after "$after" "$name" "${flags[@]}"
    else
      run after "$after" "$name" "${flags[@]}"; run before "$before" "$name" "${flags[@]}"
    fi
    unset -n flags
  done
done
exit $failed
