#!/bin/sh
# Runs once, when the primary's data folder is created (mounted into /docker-entrypoint-initdb.d/
# by docker-compose.prod.yml): the `replicator` role the streaming replica connects as, with the
# password of the `postgres_replication_password` secret, and its line in pg_hba.conf.
set -eu
password=$(cat "${POSTGRES_REPLICATION_PASSWORD_FILE:?POSTGRES_REPLICATION_PASSWORD_FILE is not set}")
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set password="$password" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
