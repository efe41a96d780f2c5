#!/usr/bin/env bash
# Start the whole BizOSaaS fleet locally: ./start-dev.sh (embedded PostgreSQL and Redis unless
# DATABASE_URL / REDIS_URL are set), or ./start-dev.sh --docker for docker-compose.dev.yml.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f .env ]; then set -a; source .env; set +a; fi
source scripts/bootstrap.sh
bootstrap_venv
if [ "${1:-}" = "--docker" ]; then
    exec .venv/bin/python -m devstack docker
fi
exec .venv/bin/python -m devstack up
