#!/usr/bin/env bash
# The long run of the properties (docs/RELIABILITY.md): every test file that checks a property, with every
# property raised to at least PROPERTY_RUNS_MIN runs (1,000 unless set), database-backed ones included.
# Needs DATABASE_URL and NATS_URL like `npm test`: run `eval "$(./dev services)"` first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Every property goes through checkProperty (test/unit/property-settings.test.ts checks that), so these
# are all the files with properties.
mapfile -t files < <(grep -rl --include='*.test.ts' 'checkProperty(' test | sort)
started=$(date +%s)
status=0
env PROPERTY_RUNS_MIN="${PROPERTY_RUNS_MIN:-1000}" npx vitest run --testTimeout=10800000 "${files[@]}" "$@" || status=$?
echo "test:long: ${#files[@]} files, $(( $(date +%s) - started )) s, exit ${status}"
exit "$status"
