#!/usr/bin/env bash
# Installs everything the project needs on a fresh clone: Debian packages, npm packages, the Python venv.
# Idempotent: re-running skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
# the report's headless-browser test (test/local-report-browser.test.ts) drives Debian's chromium with playwright-core
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # The lock lists every optional platform binding (e.g. unrs-resolver's 21, via jest 30), so npm ci (npm ≥ 11
  # checks them) installs exactly the locked tree; test/npm-lock.test.ts keeps it so.
  npm ci --no-audit --no-fund
fi

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
stamp=.venv/.requirements-stamp
if [ ! -f "$stamp" ] || [ jobs/requirements-dev.txt -nt "$stamp" ] || [ jobs/requirements.txt -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r jobs/requirements-dev.txt
  touch "$stamp"
fi

# Embedding model files for the news jobs (assets/models/, verified on build; no-op when up to date).
.venv/bin/python scripts/build-models.py
# Java dependencies of the jobs (PostgreSQL JDBC driver) as one uber-JAR: artifacts/java-deps.jar.
if [ ! -f artifacts/java-deps.jar ] || [ java/pom.xml -nt artifacts/java-deps.jar ]; then
  mvn -q -B -f java/pom.xml package
fi
# Local runner only: Hadoop S3A (+ the AWS SDK v2 modules it needs) for the Spark jobs' s3:// and the S3Proxy
# server behind the local endpoint, Delta Lake as the EMR image holds it (local/java/pom.xml → .cache/local-jars/{s3a,s3proxy,delta}/).
for profile in s3a s3proxy delta; do
  if [ ! -d ".cache/local-jars/$profile" ] || [ local/java/pom.xml -nt ".cache/local-jars/$profile" ]; then
    rm -rf ".cache/local-jars/$profile"
    mvn -q -B -f local/java/pom.xml -P "$profile" dependency:copy-dependencies
    touch ".cache/local-jars/$profile"
  fi
done
