#!/usr/bin/env bash
# Synthesizes the CDK app into cdk.out (or $CDK_OUTDIR) the way `cdk synth` does: runs the app of cdk.json with
# the cdk.json context in CDK_CONTEXT_JSON, without the CLI (no notices/telemetry network calls, and independent of
# the CLI's cloud-assembly schema version: aws-cdk-lib 2.276 needs a CLI newer than any published one).
#   bash scripts/synth.sh [stage] [extra context JSON merged over cdk.json's context]
set -euo pipefail
cd "$(dirname "$0")/.."
stage="${1:-}"
extra="${2:-{\}}"
out="${CDK_OUTDIR:-cdk.out}"
context=$(node -e '
  const c = require("./cdk.json").context || {};
  const extra = JSON.parse(process.argv[2]);
  const merged = { ...c, ...extra, stages: { ...(c.stages || {}), ...(extra.stages || {}) } };
  if (process.argv[1]) merged.stage = process.argv[1];
  process.stdout.write(JSON.stringify(merged));
' "$stage" "$extra")
rm -rf "$out"
started=$(date +%s.%N)
CDK_OUTDIR="$out" CDK_CONTEXT_JSON="$context" CDK_DISABLE_VERSION_CHECK=1 npx tsx bin/app.ts
echo "synthesized $(ls "$out"/*.template.json | wc -l) template(s) into $out in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $started}") s" >&2
