#!/bin/sh
# Entrypoint of the `redis` container in docker-compose.dev.yml and docker-compose.prod.yml.
#
# Renders users.acl.template (generated from shared/redis_acl.py: one user per service role, plus
# `admin`, with `default` off) into an ACL file, replacing each >{{NAME}} with #<SHA-256 of the
# password>, so the file holds no password in clear; then starts the official image's entrypoint
# with `--aclfile`. The password of {{NAME}} comes from:
#   - the variable NAME (dev: interpolated from .devdata/compose/dev.env), or
#   - the file NAME__FILE names (prod: a Docker secret). When that file holds a whole
#     redis://user:password@host URL (the service's own secret), its password part is used, so
#     Redis and the service read one value.
# `redis-entrypoint.sh --render-only` writes the file and stops (tests).
set -eu

TEMPLATE=${REDIS_ACL_TEMPLATE:-/bizosaas/users.acl.template}
ACL_FILE=${REDIS_ACL_FILE:-/usr/local/etc/redis/users.acl}

password_of() {
    eval "value=\${$1:-}"
    if [ -z "$value" ]; then
        eval "file=\${${1}__FILE:-}"
        if [ -n "$file" ] && [ -r "$file" ]; then
            value=$(cat "$file")
        fi
    fi
    case $value in
        redis://*:*@* | rediss://*:*@*)
            value=${value#*://}
            value=${value%%@*}
            value=${value#*:}
            ;;
    esac
    if [ -z "$value" ]; then
        echo "redis-entrypoint: no password for $1 (set $1 or ${1}__FILE)" >&2
        return 1
    fi
    printf '%s' "$value"
}

render() {
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in '' | '#'*) continue ;; esac
        while :; do
            name=$(printf '%s\n' "$line" | sed -n 's/.*>{{\([A-Za-z0-9_]*\)}}.*/\1/p')
            [ -n "$name" ] || break
            password=$(password_of "$name")
            hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
            line=$(printf '%s\n' "$line" | sed "s/>{{$name}}/#$hash/")
        done
        printf '%s\n' "$line"
    done <"$TEMPLATE"
}

mkdir -p "$(dirname "$ACL_FILE")"
umask 077
render >"$ACL_FILE.tmp"
mv "$ACL_FILE.tmp" "$ACL_FILE"
if id redis >/dev/null 2>&1; then
    chown redis "$ACL_FILE"
fi

if [ "${1:-}" = "--render-only" ]; then
    exit 0
fi
exec docker-entrypoint.sh "$@" --aclfile "$ACL_FILE"
