#!/bin/sh
# Entrypoint of `postgres-replica` (docker-compose.prod.yml): a hot standby streaming from the
# primary. On first start (empty data folder) it clones the primary with pg_basebackup as
# `replicator`; -R writes standby.signal and primary_conninfo, so PostgreSQL starts as a standby.
# Then the official entrypoint starts PostgreSQL as usual (it skips initdb: the folder has data).
# Failover: README "Docker and compose" (pg_ctl promote).
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:=postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "postgres-replica: cloning $PRIMARY_HOST with pg_basebackup"
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    PGPASSWORD=$(cat "${POSTGRES_REPLICATION_PASSWORD_FILE:?POSTGRES_REPLICATION_PASSWORD_FILE is not set}")
    export PGPASSWORD
    until gosu postgres pg_isready --host "$PRIMARY_HOST" --port 5432 >/dev/null 2>&1; do
        sleep 2
    done
    gosu postgres pg_basebackup --host "$PRIMARY_HOST" --port 5432 --username replicator \
        --pgdata "$PGDATA" --wal-method stream --write-recovery-conf --checkpoint fast --progress
    unset PGPASSWORD
fi
exec docker-entrypoint.sh "$@"
