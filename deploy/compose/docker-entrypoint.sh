#!/bin/sh
# Entrypoint of every BizOSaaS image (Dockerfile), run before the service's command:
#
#   NAME__FILE=/run/secrets/x   ->  NAME=<the file's contents, trailing newlines removed>
#       how docker-compose.prod.yml hands a service its secrets (Docker secrets are files); an
#       empty file leaves NAME unset (e.g. a provider you do not use).
#   NAME=  (empty)              ->  NAME unset
#       so `NAME: ${NAME:-}` in a compose file means "the code's default" unless .env sets it,
#       instead of an empty string that would not parse as a number or a URL.
#
# Settings the code reads as paths (JWT_PRIVATE_KEY_FILE) end in a single `_FILE` and are untouched.
set -eu

for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)__FILE=.*/\1/p'); do
    eval "file=\${${name}__FILE}"
    if [ ! -r "$file" ]; then
        echo "docker-entrypoint: ${name}__FILE names $file, which cannot be read" >&2
        exit 2
    fi
    value=$(cat "$file")
    unset "${name}__FILE"
    if [ -n "$value" ]; then
        export "$name=$value"
    else
        unset "$name"
    fi
done

for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=$/\1/p'); do
    unset "$name"
done

exec "$@"
