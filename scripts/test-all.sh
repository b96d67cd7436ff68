#!/usr/bin/env bash
# All tests: TypeScript type check, jest (CDK, Lambdas, local runner), cfn-lint over the synthesized
# templates, pytest (PySpark jobs against local Spark and a real PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build
npx jest --runInBand
bash scripts/cfn-lint.sh
bash scripts/test-py.sh
