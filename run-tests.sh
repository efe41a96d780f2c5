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
exec .venv/bin/python -m pytest "$@"
