#!/usr/bin/env bash
# Local demo (filled by the local runner): for now synthesizes the CDK app.
set -euo pipefail
cd "$(dirname "$0")/.."
npx cdk synth --quiet
ls -1 cdk.out/*.template.json
