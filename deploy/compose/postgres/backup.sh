#!/bin/sh
# The `pg-backup` container of docker-compose.prod.yml: nightly logical backups of the primary.
#
#   backup.sh [loop]            one backup now, then one a day at BACKUP_AT (UTC, default 02:30)
#   backup.sh once              one backup now
#   backup.sh list              the backups kept
#   backup.sh restore FILE --yes [DATABASE]
#                               replace DATABASE (default PGDATABASE) with the backup FILE
#                               (README "Docker and compose": stop the services first, run the
#                               migrate step after)
#
# Each backup is `bizosaas-<UTC time>.dump` (pg_dump custom format, checked with pg_restore --list)
# and `bizosaas-<UTC time>.globals.sql` (roles without passwords: the migrate step sets them), in
# BACKUP_DIR; files older than BACKUP_RETENTION_DAYS (default 14) are deleted after a good backup;
# `last-success` holds the time of the last good one (the container's health check reads it).
# Connection: PGHOST, PGPORT, PGUSER, PGDATABASE, and the password from PGPASSWORD_FILE (a secret).
set -eu

export PGHOST="${PGHOST:-postgres}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PGDATABASE="${PGDATABASE:-bizosaas}"
BACKUP_DIR=${BACKUP_DIR:-/backups}
RETENTION_DAYS=${BACKUP_RETENTION_DAYS:-14}
BACKUP_AT=${BACKUP_AT:-02:30}
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD=$(cat "$PGPASSWORD_FILE")
    export PGPASSWORD
fi

log() { echo "pg-backup: $*"; }

backup_once() {
    # Every step returns on failure itself: `set -e` does not apply inside `backup_once || ...`.
    umask 077
    mkdir -p "$BACKUP_DIR" || return 1
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    base="$BACKUP_DIR/bizosaas-$stamp"
    if ! pg_dump --format=custom --file "$base.dump.partial" \
        || ! pg_restore --list "$base.dump.partial" >/dev/null \
        || ! pg_dumpall --globals-only --no-role-passwords --file "$base.globals.sql.partial"; then
        rm -f "$base.dump.partial" "$base.globals.sql.partial"
        log "backup FAILED"
        return 1
    fi
    mv "$base.dump.partial" "$base.dump" || return 1
    mv "$base.globals.sql.partial" "$base.globals.sql" || return 1
    find "$BACKUP_DIR" -maxdepth 1 -type f -name 'bizosaas-*' -mtime +"$RETENTION_DAYS" -exec rm -f {} + || return 1
    date -u +%Y-%m-%dT%H:%M:%SZ >"$BACKUP_DIR/last-success"
    log "wrote $base.dump ($(wc -c <"$base.dump") bytes); keeping $RETENTION_DAYS days"
}

seconds_until_next() {
    now=$(date -u +%s)
    next=$(date -u -d "$(date -u +%Y-%m-%d) $BACKUP_AT" +%s)
    if [ "$next" -le "$now" ]; then
        next=$((next + 86400))
    fi
    echo $((next - now))
}

restore() {
    file=${1:?restore FILE --yes [DATABASE]}
    confirm=${2:-}
    database=${3:-$PGDATABASE}
    if [ "$confirm" != "--yes" ]; then
        echo "pg-backup: restore replaces the database $database with $file." >&2
        echo "Stop the services first, then run again with --yes (README \"Docker and compose\")." >&2
        exit 2
    fi
    [ -r "$file" ] || { echo "pg-backup: cannot read $file" >&2; exit 2; }
    log "recreating $database"
    psql --dbname postgres -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$database\""
    globals=${file%.dump}.globals.sql
    if [ -r "$globals" ]; then
        # Roles that exist already make CREATE ROLE fail: expected, the rest goes on.
        psql --dbname postgres --quiet --file "$globals" >/dev/null 2>&1 || true
    fi
    pg_restore --dbname "$database" --exit-on-error "$file"
    log "restored $file into $database; now run the migrate step (it sets the roles' passwords)"
}

case ${1:-loop} in
    once) backup_once ;;
    list) ls -l "$BACKUP_DIR" ;;
    restore) shift; restore "$@" ;;
    loop)
        backup_once
        while :; do
            wait_for=$(seconds_until_next)
            log "next backup in ${wait_for}s (at $BACKUP_AT UTC)"
            sleep "$wait_for"
            backup_once || log "the health check turns unhealthy after a day without a good backup"
        done
        ;;
    *) echo "usage: backup.sh [loop|once|list|restore FILE --yes [DATABASE]]" >&2; exit 2 ;;
esac
