#!/usr/bin/env bash
# npm run lint:openapi: writes the OpenAPI document as the service serves it at /openapi.json (built by
# buildApp without Postgres or NATS) to a temporary file, and lints it with Redocly (recommended rules,
# redocly.yaml) and Spectral (spectral:oas, .spectral.yaml). Any error or warning of either fails.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

npx tsx src/api/write-openapi.ts "$work/openapi.json"

# Redocly exits 1 on errors only; its JSON totals count the warnings too.
npx redocly lint --config redocly.yaml --format=json "$work/openapi.json" >"$work/redocly.json" 2>"$work/redocly.log" || true
node -e '
  const report = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  const { errors, warnings } = report.totals;
  for (const problem of report.problems) console.error(`redocly: ${problem.severity} ${problem.ruleId}: ${problem.message} (${problem.location?.[0]?.pointer ?? ""})`);
  console.log(`redocly (recommended): ${errors} errors, ${warnings} warnings`);
  process.exit(errors + warnings === 0 ? 0 : 1);
' "$work/redocly.json"

npx spectral lint --ruleset .spectral.yaml --fail-severity=hint --quiet "$work/openapi.json"
echo "spectral (spectral:oas): no results"
