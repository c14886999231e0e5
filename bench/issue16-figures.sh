#!/usr/bin/env bash
# The figures of docs/BENCHMARKS.md, "Today's run (issue 16)": every benchmark whose figures that
# section needs, once each, in one go, on a quiet machine (nothing else running: no tests, no other
# benchmarks). Each prints one JSON object on one line to stdout; their progress goes to stderr.
#
#   bench/issue16-figures.sh > .local/issue16-figures.jsonl
#   bench/issue16-figures.sh --quick      # every benchmark at a tiny size: checks the script, figures mean nothing
#
# Sizes are chosen so that the whole run takes about 12-15 minutes on the 2-vCPU development machine
# (throughput about 5, the others 1-2 each); docs/BENCHMARKS.md gives the full-size commands.
# A benchmark that fails is reported on stderr and the others still run; the exit status is then 1.
# Benchmarks never fail on a timing (api exits 1 only if the journal and the answers disagree).
set -uo pipefail
cd "$(dirname "$0")/.."

quick=false
case "${1:-}" in
  --quick) quick=true ;;
  '') ;;
  *) echo "usage: bench/issue16-figures.sh [--quick]" >&2; exit 2 ;;
esac

if $quick; then
  throughput=(--pots 200 --commands 2000 --partitions 8 --paced-rate 200 --paced-seconds 2)
  api=(--members 50 --seconds 3 --rate 20 --edit-rate 20 --connections 5)
  cycle=(--pots 200 --orders 200 --partitions 8)
  payments=(--pots 100 --payments 200 --window 20 --partitions 8)
  pools=(--investors 2000 --pools 20 --runs 3)
  seed_members=1000
  scale=(--members 200 --partitions 8)
else
  throughput=(--commands 50000)
  api=()
  cycle=(--pots 20000 --orders 20000)
  payments=(--payments 10000)
  pools=(--investors 200000 --pools 200)
  seed_members=100000
  scale=(--members 20000)
fi

failed=()
started=$(date +%s)

# Runs `./dev bench <name> --json <flags>` and prints its last line (the JSON object) to stdout.
bench() {
  local name=$1
  shift
  echo "== $name $* ($(date -u +%H:%M:%S))" >&2
  local output
  output=$(mktemp)
  ./dev bench "$name" --json "$@" | tee "$output" >&2
  if [[ ${PIPESTATUS[0]} -eq 0 ]]; then tail -n 1 "$output"; else failed+=("$name"); fi
  rm -f "$output"
}

# The seed is a CLI, not a bench: it runs into a database of its own, and its summary is wrapped in JSON.
seed() {
  echo "== seed --members $seed_members --verify ($(date -u +%H:%M:%S))" >&2
  eval "$(./dev services)"
  local base=${DATABASE_URL%/*} database=potledger_bench_seed_$$ output status begin end
  createdb --maintenance-db="$DATABASE_URL" "$database" || { failed+=(seed); return; }
  output=$(mktemp)
  begin=$(date +%s%N)
  DATABASE_URL="$base/$database" npm run --silent seed -- --members "$seed_members" --verify | tee "$output" >&2
  status=${PIPESTATUS[0]}
  end=$(date +%s%N)
  dropdb --maintenance-db="$DATABASE_URL" --force "$database" || true
  [[ $status -eq 0 ]] || failed+=(seed)
  jq -cn --arg commit "$(git rev-parse --short=12 HEAD)$([[ -n $(git status --porcelain --untracked-files=no) ]] && echo +dirty)" \
    --arg startedAt "$(date -u -d "@$((begin / 1000000000))" +%Y-%m-%dT%H:%M:%SZ)" --arg machine "$(hostname)" --argjson cpus "$(nproc)" \
    --argjson members "$seed_members" --argjson partitions "${PARTITION_COUNT:-64}" --argjson exitStatus "$status" \
    --argjson wallMs "$(( (end - begin) / 1000000 ))" --rawfile summary "$output" \
    '{bench: "seed", $startedAt, $commit, $machine, $cpus, $members, $partitions, $exitStatus, wallSec: ($wallMs / 1000), summary: ($summary | split("\n") | map(select(length > 0)))}'
  rm -f "$output"
}

bench throughput "${throughput[@]}"
bench api "${api[@]}"
bench cycle "${cycle[@]}"
bench payments "${payments[@]}"
bench pools "${pools[@]}"
seed
bench scale "${scale[@]}"

echo "== done in $(( $(date +%s) - started )) s" >&2
if (( ${#failed[@]} > 0 )); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
