#!/usr/bin/env bash
# Synthesizes every stage's app and runs cfn-lint over all templates: any error fails.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf cdk.out
npx cdk synth --quiet >/dev/null
.venv/bin/cfn-lint --format parseable cdk.out/*.template.json
echo "cfn-lint: 0 errors in $(ls cdk.out/*.template.json | wc -l) templates"
