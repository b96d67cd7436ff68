#!/usr/bin/env bash
# Synthesizes the app for stage dev, stage prod (with the CDK CLI) and a provisioned-database variant (a stage not in
# cdk.json: scripts/synth.sh runs the app directly with the extra context), and runs cfn-lint over every template:
# any cfn-lint error fails (warnings are printed, not fatal). cdk-nag runs inside each synth.
set -euo pipefail
cd "$(dirname "$0")/.."
root=cdk.out.lint
rm -rf "$root"
CDK_OUTDIR=$root/dev bash scripts/synth.sh dev 2>/dev/null
CDK_OUTDIR=$root/prod bash scripts/synth.sh prod 2>/dev/null
CDK_OUTDIR=$root/db bash scripts/synth.sh dbcheck \
  '{"stages":{"dbcheck":{"database":{"mode":"provisioned"},"schedules":{"enabled":true},"alertEmail":"ops@example.com"}}}' 2>/dev/null
templates=$(ls $root/*/*.template.json)
# --non-zero-exit-code error: warnings/informational findings are printed but only errors fail.
.venv/bin/cfn-lint --format parseable --non-zero-exit-code error -- $templates
echo "cfn-lint: 0 errors in $(echo "$templates" | wc -w) templates"
rm -rf "$root"
