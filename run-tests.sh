#!/usr/bin/env bash
# The one test command: installs what is needed, lints, then runs every test against real
# PostgreSQL and Redis (embedded ones unless TEST_DATABASE_URL / TEST_REDIS_URL are given).
# Extra arguments go to pytest, e.g. ./run-tests.sh tests/shared -k outbox
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
bootstrap_venv
export CREWAI_DISABLE_TELEMETRY=true OTEL_SDK_DISABLED=true CREWAI_TRACING_ENABLED=false
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache  # the layering rules of DESIGN §2 (pyproject.toml)
# promtool checks deploy/monitoring's Prometheus config and rules (tests/deploy); Debian's
# `prometheus` package has it. Installed once, where it is missing and apt-get exists (as root).
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "Installing promtool (Debian package prometheus)"
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
    apt_install >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt_install >/dev/null 2>&1; } \
        || echo "could not install promtool (needs root and the Debian mirror): tests/deploy will fail" >&2
fi
exec .venv/bin/python -m pytest "$@"
