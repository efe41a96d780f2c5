#!/usr/bin/env bash
# Start the whole BizOSaaS fleet locally: ./start-dev.sh (embedded PostgreSQL and Redis unless
# DATABASE_URL / REDIS_URL are set), or ./start-dev.sh --docker for docker-compose.dev.yml.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f .env ]; then set -a; source .env; set +a; fi

# Docker mode: the same fleet in containers (README "Docker and compose"). Docker is checked first,
# so a machine without it hears so at once; DOCKER names another client (e.g. DOCKER=podman).
if [ "${1:-}" = "--docker" ]; then
    docker=${DOCKER:-docker}
    if ! command -v "$docker" >/dev/null 2>&1; then
        echo "start-dev: --docker needs Docker, and the '$docker' client is not installed" \
            "(https://docs.docker.com/get-docker/). ./start-dev.sh without --docker runs the fleet without Docker."
        exit 2
    fi
    if ! "$docker" compose version >/dev/null 2>&1; then
        echo "start-dev: --docker needs Docker Compose v2 ('$docker compose'), which this Docker client lacks."
        exit 2
    fi
    if ! "$docker" info >/dev/null 2>&1; then
        echo "start-dev: the Docker engine is not reachable ('$docker info' failed): start Docker" \
            "(Docker Desktop, or 'sudo systemctl start docker') and check that you may use it," \
            "or run ./start-dev.sh without --docker."
        exit 2
    fi
fi

source scripts/bootstrap.sh
bootstrap_venv

if [ "${1:-}" = "--docker" ]; then
    shift
    devdata=${BIZOSAAS_DEVDATA:-.devdata}
    # Generated once and kept: every service's passwords and secrets, and the signing key.
    .venv/bin/python deploy/generate_compose.py dev-env --devdata "$devdata"
    set -a
    source "$devdata/compose/dev.env"
    if [ -f .env ]; then source .env; fi  # your own settings win
    set +a
    echo "start-dev: docker compose -f docker-compose.dev.yml up --build $* (Ctrl-C stops it)"
    exec "$docker" compose -f docker-compose.dev.yml up --build "$@"
fi
exec .venv/bin/python -m devstack up
