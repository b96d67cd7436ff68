#!/usr/bin/env bash
# Local demo: synthesizes the CDK app and runs the four pipelines' state machines end to end on this machine
# (handlers in-process, PySpark jobs on local Spark; no AWS account, no Docker). See local/README.md.
#   npm run demo [-- --sequential]
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx tsx local/demo-main.ts "$@"
