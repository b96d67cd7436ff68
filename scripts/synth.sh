#!/usr/bin/env bash
# Synthesizes the CDK app into cdk.out (or $CDK_OUTDIR) with the CDK CLI (package.json pins aws-cdk-lib and a CLI
# that reads its cloud-assembly schema):
#   bash scripts/synth.sh [stage] [cdk synth options…]   → npx cdk synth --quiet -c stage=<stage> …
#   npm run synth [-- <stage>]                          (default stage: cdk.json's "stage", i.e. dev)
#   bash scripts/synth.sh <stage> '<context JSON>'       → a stage that is not in cdk.json: the JSON is merged over
#        cdk.json's context and the app runs directly, as the CLI would run it (the CLI passes -c values as
#        strings only, so it cannot carry a stage object; scripts/cfn-lint.sh uses this for its database variant).
# No notices or telemetry requests: the build works offline.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=""
if [[ $# -gt 0 && "$1" != -* ]]; then
  stage="$1"
  shift
fi
out="${CDK_OUTDIR:-cdk.out}"
started=$(date +%s.%N)
if [[ $# -gt 0 && "$1" == \{* ]]; then
  context=$(node -e '
    const c = require("./cdk.json").context || {};
    const extra = JSON.parse(process.argv[2]);
    const merged = { ...c, ...extra, stages: { ...(c.stages || {}), ...(extra.stages || {}) } };
    if (process.argv[1]) merged.stage = process.argv[1];
    process.stdout.write(JSON.stringify(merged));
  ' "$stage" "$1")
  rm -rf "$out"
  CDK_OUTDIR="$out" CDK_CONTEXT_JSON="$context" CDK_DISABLE_VERSION_CHECK=1 npx tsx bin/app.ts
else
  CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1 \
    npx cdk synth --quiet --no-notices --output "$out" ${stage:+-c "stage=$stage"} "$@"
fi
echo "synthesized $(ls "$out"/*.template.json | wc -l) template(s) into $out in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $started}") s" >&2
